"use client";
// Last line of defence: a render error shows a notice and a retry button, never a blank page or a stack trace.
import { Banner } from "./_components/banner";

export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <main className="page">
      <Banner tone="error" title="This page failed to render">
        <p>
          The server log has the details{error.digest ? ` (digest ${error.digest})` : ""}.{" "}
          <button type="button" className="button" onClick={reset}>
            Try again
          </button>
        </p>
      </Banner>
    </main>
  );
}
