// Full-width notices for states where there is nothing else to show: IPVS missing, agent down, errors.
import type { ReactNode } from "react";

type Tone = "warning" | "error" | "info";

export function Banner({ tone, title, children }: { tone: Tone; title: string; children?: ReactNode }) {
  return (
    <section className={`banner banner--${tone}`} role={tone === "info" ? "status" : "alert"}>
      <h2 className="banner__title">{title}</h2>
      {children ? <div className="banner__body">{children}</div> : null}
    </section>
  );
}

export function IpvsUnavailableBanner({ reason, where }: { reason: string; where: string | null }) {
  return (
    <Banner tone="warning" title="IPVS is not available in this kernel">
      <p>
        {reason}.{where ? <span className="banner__where"> Agent on {where}.</span> : null}
      </p>
      <ol className="steps">
        <li>
          If the kernel has IPVS as a module, load it as root: <code>modprobe ip_vs</code> (and keep it across
          reboots with <code>echo ip_vs &gt; /etc/modules-load.d/ip_vs.conf</code>).
        </li>
        <li>
          The dashboard&apos;s agent must run as root (or with <code>CAP_NET_ADMIN</code>) to see and change IPVS:{" "}
          <code>npm start</code> as root does this.
        </li>
        <li>
          No IPVS in this kernel at all (<code>modprobe</code> says <i>Module ip_vs not found</i>)?{" "}
          <code>npm run lab</code> boots Debian&apos;s kernel, which has it, under qemu and runs the dashboard
          against it.
        </li>
      </ol>
    </Banner>
  );
}

export function AgentDownBanner({ message }: { message: string }) {
  return (
    <Banner tone="error" title="The lvs-dashboard agent is not reachable">
      <p className="sentence">{message}</p>
      <p>
        The web server never touches the kernel itself: a small agent running as root does, over a Unix socket.
        Start both with <code>npm start</code> as root (set <code>LVSDASH_AGENT_SOCKET</code> if the agent listens
        elsewhere).
      </p>
    </Banner>
  );
}

export function ErrorBanner({ title, message }: { title: string; message: string }) {
  return (
    <Banner tone="error" title={title}>
      <p className="sentence">{message}</p>
    </Banner>
  );
}
