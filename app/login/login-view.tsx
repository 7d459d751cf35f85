"use client";
// The sign-in card, and the first-admin card when the server has no admin yet.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";

import { Banner } from "@/app/_components/banner";
import { useTRPC } from "@/app/_trpc/react";

import { authClient, errorMessage, safeNext } from "./auth-client";

export function LoginView({ setupToken, next, idle }: { setupToken: string | null; next: string | null; idle: boolean }) {
  const trpc = useTRPC();
  const status = useQuery(trpc.auth.status.queryOptions());
  // The token must not stay in the address bar (history, screenshots): keep it in memory only.
  const [token] = useState(setupToken);
  useEffect(() => {
    if (setupToken) window.history.replaceState(null, "", "/login");
  }, [setupToken]);

  const setupNeeded = status.data?.setupNeeded ?? false;
  return (
    <main className="auth-page">
      <section className="auth-card" aria-labelledby="auth-title">
        <div className="auth-card__brand">
          <span className="topbar__logo" aria-hidden="true">
            LVS
          </span>
          <div>
            <h1 id="auth-title">{setupNeeded ? "Create the first admin" : "Sign in"}</h1>
            <p>LVS Dashboard · IPVS director</p>
          </div>
        </div>
        {status.isError ? (
          <Banner tone="error" title="The server cannot check sign-ins">
            <p className="sentence">{status.error.message}</p>
          </Banner>
        ) : status.isPending ? (
          <div className="auth-card__loading">
            <div className="skeleton" />
            <div className="skeleton" />
          </div>
        ) : setupNeeded ? (
          token ? (
            <SetupForm token={token} />
          ) : (
            <NoAdminYet />
          )
        ) : (
          <LoginForm next={safeNext(next)} idle={idle} />
        )}
      </section>
    </main>
  );
}

function LoginForm({ next, idle }: { next: string; idle: boolean }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await authClient.auth.login.mutate({ name: String(form.get("name")), password: String(form.get("password")) });
      // A full load: every query starts again with the new session.
      window.location.assign(next);
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  }
  return (
    <form className="auth-form" onSubmit={submit}>
      {idle ? <p className="auth-form__info">You were signed out after a while without activity. Sign in again to go on.</p> : null}
      <label className="auth-field">
        <span className="auth-field__label">User name</span>
        <input className="auth-field__input" name="name" autoComplete="username" autoFocus required maxLength={64} />
      </label>
      <label className="auth-field">
        <span className="auth-field__label">Password</span>
        <input className="auth-field__input" name="password" type="password" autoComplete="current-password" required maxLength={1024} />
      </label>
      {error ? <p className="auth-form__error sentence" role="alert">{error}</p> : null}
      <button type="submit" className="button auth-button--primary" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
      <p className="auth-form__note">Sessions end after 30 minutes without activity. Forgot the password? An admin can set a new one with <code>lvsdash user passwd NAME</code> on the director.</p>
    </form>
  );
}

function SetupForm({ token }: { token: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const password = String(form.get("password"));
    if (password !== String(form.get("again"))) {
      setError("the two passwords differ");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await authClient.auth.setupFirstAdmin.mutate({ token, name: String(form.get("name")).trim(), password });
      window.location.assign("/");
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  }
  return (
    <form className="auth-form" onSubmit={submit}>
      <p className="auth-form__lead">
        This dashboard has no admin yet. The link you opened was printed on the server&apos;s console and works only once. The admin
        you create here can change the director&apos;s IPVS tables and add other users.
      </p>
      <label className="auth-field">
        <span className="auth-field__label">Admin user name</span>
        <input className="auth-field__input" name="name" autoComplete="username" autoFocus required maxLength={32} pattern="[A-Za-z][A-Za-z0-9._\-]{0,31}" defaultValue="admin" />
      </label>
      <label className="auth-field">
        <span className="auth-field__label">Password</span>
        <input className="auth-field__input" name="password" type="password" autoComplete="new-password" required minLength={8} maxLength={1024} />
        <span className="auth-field__hint">At least 8 characters; a passphrase is best.</span>
      </label>
      <label className="auth-field">
        <span className="auth-field__label">Password again</span>
        <input className="auth-field__input" name="again" type="password" autoComplete="new-password" required minLength={8} maxLength={1024} />
      </label>
      {error ? <p className="auth-form__error sentence" role="alert">{error}</p> : null}
      <button type="submit" className="button auth-button--primary" disabled={busy}>
        {busy ? "Creating…" : "Create admin and sign in"}
      </button>
    </form>
  );
}

function NoAdminYet() {
  return (
    <div className="auth-form">
      <Banner tone="info" title="No admin account yet">
        <p>Create the first admin in one of two ways:</p>
        <ol className="steps">
          <li>
            Open the one-time setup link the server printed on its console when it started (it ends in <code>/login?setup=…</code>;
            restarting the server prints a new one).
          </li>
          <li>
            On the director, as root: <code>lvsdash user add admin --role admin</code> (asks for the password), then sign in here.
          </li>
        </ol>
      </Banner>
    </div>
  );
}
