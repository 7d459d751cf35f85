"use client";
// The signed-in user in the top bar, the sign-out button, and the idle sign-out: after the session's idle
// limit (30 min by default) without a key press, click, scroll or pointer move in this tab, the page signs
// out by itself. The server's idle expiry cannot see an unattended tab: the page's own polling keeps the
// session in use. Nothing shows on /login.
import { useQuery } from "@tanstack/react-query";
import { usePathname } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { authClient, errorMessage } from "@/app/login/auth-client";
import { useTRPC } from "@/app/_trpc/react";

const ACTIVITY = ["keydown", "pointerdown", "pointermove", "wheel", "scroll", "touchstart"] as const;

async function signOut(reason: "idle" | "user") {
  try {
    await authClient.auth.logout.mutate();
  } finally {
    const next = `${window.location.pathname}${window.location.search}`;
    window.location.assign(reason === "idle" ? `/login?idle=1&next=${encodeURIComponent(next)}` : "/login");
  }
}

/** Signs out after `idleMs` without user activity in this tab (checked every 15 s). */
function useIdleSignOut(idleMs: number | undefined) {
  const last = useRef(Date.now());
  useEffect(() => {
    if (!idleMs) return;
    const seen = () => {
      last.current = Date.now();
    };
    for (const e of ACTIVITY) window.addEventListener(e, seen, { passive: true });
    const timer = window.setInterval(() => {
      if (Date.now() - last.current >= idleMs) void signOut("idle");
    }, 15_000);
    return () => {
      for (const e of ACTIVITY) window.removeEventListener(e, seen);
      window.clearInterval(timer);
    };
  }, [idleMs]);
}

export function UserMenu() {
  const trpc = useTRPC();
  const pathname = usePathname();
  const status = useQuery(trpc.auth.status.queryOptions(undefined, { refetchInterval: 60_000 }));
  const [leaving, setLeaving] = useState(false);
  const [passwordOpen, setPasswordOpen] = useState(false);
  const user = status.data?.user;
  useIdleSignOut(pathname === "/login" ? undefined : user?.idleMs);
  if (pathname === "/login" || !user) return null;
  return (
    <span className="user-menu">
      <span className={`fact ${user.role === "admin" ? "fact--admin" : ""}`} title={user.role === "admin" ? "May change the director" : "Reads only"}>
        <span className="fact__label">{user.role}</span> {user.name}
      </span>
      <button type="button" className="user-menu__out" aria-expanded={passwordOpen} onClick={() => setPasswordOpen(!passwordOpen)}>
        Password
      </button>
      {passwordOpen ? <PasswordForm onDone={() => setPasswordOpen(false)} /> : null}
      <button
        type="button"
        className="user-menu__out"
        onClick={() => {
          setLeaving(true);
          void signOut("user");
        }}
        disabled={leaving}
      >
        {leaving ? "Signing out…" : "Sign out"}
      </button>
    </span>
  );
}

/** The signed-in user's own password: the current one again, the new one twice. Other sessions end. */
function PasswordForm({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const newPassword = String(form.get("new"));
    if (newPassword !== String(form.get("again"))) return setError("the two new passwords differ");
    setBusy(true);
    setError(null);
    try {
      await authClient.auth.changePassword.mutate({ currentPassword: String(form.get("current")), newPassword });
      setDone(true);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="user-menu__panel" onSubmit={submit} aria-label="Change your password">
      <h2>Change your password</h2>
      {done ? (
        <>
          <p className="auth-form__info">Password changed. Your other sessions have ended.</p>
          <button type="button" className="button" onClick={onDone}>
            Close
          </button>
        </>
      ) : (
        <>
          <label className="auth-field">
            <span className="auth-field__label">Current password</span>
            <input className="auth-field__input" name="current" type="password" autoComplete="current-password" required maxLength={1024} autoFocus />
          </label>
          <label className="auth-field">
            <span className="auth-field__label">New password</span>
            <input className="auth-field__input" name="new" type="password" autoComplete="new-password" required minLength={8} maxLength={1024} />
          </label>
          <label className="auth-field">
            <span className="auth-field__label">New password again</span>
            <input className="auth-field__input" name="again" type="password" autoComplete="new-password" required minLength={8} maxLength={1024} />
          </label>
          {error ? <p className="auth-form__error sentence" role="alert">{error}</p> : null}
          <div className="user-menu__actions">
            <button type="button" className="button" onClick={onDone}>
              Cancel
            </button>
            <button type="submit" className="button auth-button--primary" disabled={busy}>
              {busy ? "Changing…" : "Change password"}
            </button>
          </div>
        </>
      )}
    </form>
  );
}
