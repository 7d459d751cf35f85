// Auth: sign in and out, the first admin, passwords, and (admins) the user list. The only router with public
// procedures: status (is a setup pending, am I signed in), login and setupFirstAdmin. Sessions are cookies
// (server/auth/http.ts); the cookie is set on the HTTP response, so these mutations must be called over a
// non-streaming link (app/login/auth-client.ts): a streamed batch has sent its headers before they resolve.
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { clearSessionCookies, sessionCookie } from "@/server/auth/http";
import { MAX_PASSWORD_LENGTH } from "@/server/auth/password";
import { AuthError, isAuthError, isLoginRefused } from "@/server/auth/service";
import { ROLES, USERNAME, type Session } from "@/server/auth/store";
import { adminProcedure, createTRPCRouter, publicProcedure, viewerProcedure, type TRPCContext } from "@/server/api/trpc";

const name = z.string().trim().regex(USERNAME, "a user name is a letter, then up to 31 letters, digits, '.', '-' or '_'");
/** Only the length is checked here (a wrong password must not be told apart from a malformed one). */
const password = z.string().min(1, "enter the password").max(MAX_PASSWORD_LENGTH);
const role = z.enum(ROLES);

/** AuthError and LoginRefused as tRPC errors, with their message (written for the person at the form). */
function authFailure(e: unknown): never {
  if (isLoginRefused(e)) throw new TRPCError({ code: "TOO_MANY_REQUESTS", message: e.message, cause: e });
  if (isAuthError(e)) {
    const code = e.kind === "credentials" ? "UNAUTHORIZED" : e.kind === "forbidden" ? "FORBIDDEN" : e.kind === "conflict" ? "CONFLICT" : "BAD_REQUEST";
    throw new TRPCError({ code, message: e.message, cause: e });
  }
  throw e;
}

async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (e) {
    return authFailure(e);
  }
}

function setSessionCookie(ctx: TRPCContext, token: string, session: Session): void {
  const maxAge = (session.expiresAt - Date.now()) / 1000;
  ctx.resHeaders?.append("set-cookie", sessionCookie(token, { secure: ctx.request.secure, maxAgeSeconds: maxAge }));
}

const me = (session: Session, idleMs: number) => ({
  name: session.user.name,
  role: session.user.role,
  expiresAt: session.expiresAt,
  idleExpiresAt: session.idleExpiresAt,
  /** The idle limit: the page signs out by itself after this long without keyboard or mouse (its own polls
   *  keep the server-side session alive, so the server alone cannot tell an unattended tab). */
  idleMs,
});

export const authRouter = createTRPCRouter({
  /** Public: who is signed in (null), and whether the first admin still has to be created. */
  status: publicProcedure.query(({ ctx }) => ({
    user: ctx.session ? me(ctx.session, ctx.auth.store.policy.idleMs) : null,
    setupNeeded: ctx.auth.store.adminCount() === 0,
  })),

  login: publicProcedure.input(z.object({ name: z.string().trim().min(1).max(64), password })).mutation(({ ctx, input }) =>
    guarded(async () => {
      ctx.auditNotes.actor = input.name;
      const { token, session } = await ctx.auth.login(input.name, input.password, ctx.request);
      setSessionCookie(ctx, token, session);
      return me(session, ctx.auth.store.policy.idleMs);
    }),
  ),

  /** With the one-time token printed at first start: creates the first admin and signs them in. */
  setupFirstAdmin: publicProcedure
    .input(z.object({ token: z.string().min(1).max(128), name, password }))
    .mutation(({ ctx, input }) =>
      guarded(async () => {
        ctx.auditNotes.actor = input.name;
        const { token, session } = await ctx.auth.setupFirstAdmin(input.token, input.name, input.password, ctx.request);
        setSessionCookie(ctx, token, session);
        return me(session, ctx.auth.store.policy.idleMs);
      }),
    ),

  me: viewerProcedure.query(({ ctx }) => me(ctx.session, ctx.auth.store.policy.idleMs)),

  logout: viewerProcedure.mutation(({ ctx }) => {
    ctx.auth.logout(ctx.session);
    for (const c of clearSessionCookies()) ctx.resHeaders?.append("set-cookie", c);
    return { ok: true as const };
  }),

  /** The signed-in user's own password; their other sessions end. */
  changePassword: viewerProcedure
    .input(z.object({ currentPassword: password, newPassword: password }))
    .mutation(({ ctx, input }) =>
      guarded(async () => {
        await ctx.auth.changePassword(ctx.session, input.currentPassword, input.newPassword, ctx.request);
        return { ok: true as const };
      }),
    ),

  users: adminProcedure.query(({ ctx }) => ctx.auth.store.listUsers()),

  addUser: adminProcedure
    .input(z.object({ name, role, password }))
    .mutation(({ ctx, input }) => guarded(() => ctx.auth.addUser(input.name, input.role, input.password))),

  removeUser: adminProcedure.input(z.object({ name })).mutation(({ ctx, input }) =>
    guarded(() => {
      if (input.name.toLowerCase() === ctx.session.user.name.toLowerCase()) {
        throw new AuthError("conflict", "you cannot remove yourself: another admin can");
      }
      ctx.auth.removeUser(input.name);
      return { ok: true as const };
    }),
  ),

  setRole: adminProcedure.input(z.object({ name, role })).mutation(({ ctx, input }) => guarded(() => ctx.auth.setRole(input.name, input.role))),
});
