"use client";
// The top bar every page shares: the product, the sections an admin moves between, and the facts about the
// director the agent runs on (host, kernel, privileges). Pages put their own title and live state below it.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname } from "next/navigation";

import { useTRPC, type RouterOutputs } from "@/app/_trpc/react";

import { UserMenu } from "./user-menu";

/** The app's sections, in the order an admin needs them. */
export const SECTIONS = [
  { href: "/", label: "Overview" },
  { href: "/connections", label: "Connections" },
  { href: "/diagnostics", label: "Diagnostics" },
  { href: "/capture", label: "Capture" },
  { href: "/wizards", label: "Setup" },
  { href: "/realservers", label: "Real servers" },
  { href: "/rules", label: "Rules" },
  { href: "/host", label: "Host" },
  { href: "/audit", label: "Audit log" },
] as const;

const HOST_REFRESH_MS = 10_000;

function isCurrent(pathname: string, href: string): boolean {
  if (href === "/") return pathname === "/" || pathname.startsWith("/services/");
  return pathname === href || pathname.startsWith(`${href}/`);
}

export function TopBar() {
  const trpc = useTRPC();
  const pathname = usePathname();
  // The login page has nobody signed in yet: only the product's name.
  const signingIn = pathname === "/login";
  const host = useQuery(trpc.host.info.queryOptions(undefined, { refetchInterval: HOST_REFRESH_MS, enabled: !signingIn }));
  if (signingIn) {
    return (
      <header className="topbar">
        <Brand subtitle="IPVS director" />
      </header>
    );
  }
  return (
    <header className="topbar">
      <Brand subtitle={host.data ? `${host.data.hostname} · Linux ${host.data.kernelRelease}` : "IPVS director"} />
      <nav className="topbar__nav" aria-label="Sections">
        {SECTIONS.map((s) => (
          <Link
            key={s.href}
            href={s.href}
            className={`topbar__link${isCurrent(pathname, s.href) ? " topbar__link--current" : ""}`}
            aria-current={isCurrent(pathname, s.href) ? "page" : undefined}
          >
            {s.label}
          </Link>
        ))}
      </nav>
      <div className="topbar__facts">
        {host.data ? <Privileges host={host.data} /> : null}
        <UserMenu />
      </div>
    </header>
  );
}

function Brand({ subtitle }: { subtitle: string }) {
  return (
    <div className="topbar__brand">
      <span className="topbar__logo" aria-hidden="true">
        LVS
      </span>
      <div>
        <h1>LVS Dashboard</h1>
        <p>{subtitle}</p>
      </div>
    </div>
  );
}

function Privileges({ host }: { host: RouterOutputs["host"]["info"] }) {
  const admin = host.capNetAdmin ?? host.uid === 0;
  const who = host.uid === 0 ? "root" : `uid ${host.uid}`;
  return (
    <span
      className={`fact ${admin ? "fact--ok" : "fact--warn"}`}
      title={admin ? "The agent can read and change IPVS" : "Without CAP_NET_ADMIN the agent cannot change IPVS"}
    >
      <span className="fact__label">Agent</span> {who}
      {admin ? " · CAP_NET_ADMIN" : " · no CAP_NET_ADMIN"}
    </span>
  );
}
