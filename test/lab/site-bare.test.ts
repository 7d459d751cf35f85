// The bare lab site (lab/site `bare: true`): what a wizard starts from. Namespaces, addresses, routes and HTTP
// servers; nothing of LVS.
import { describe, expect, it } from "vitest";

import { planHost, planSite } from "@/lab/site/plan";
import { MODES, SiteSpecError } from "@/lab/site/spec";

describe("bare site plan", () => {
  for (const mode of MODES) {
    it(`${mode}: no IPVS, no VIP, no LVS sysctls, no tunl0, no SNAT`, () => {
      const plan = planSite({ name: "b", mode, bare: true });
      expect(plan.up).not.toMatch(/ipvsadm|192\.0\.2\.100|arp_ignore|arp_announce|tunl0|nft |vs\.conntrack/);
      expect(planHost(plan, "dir").sysctls["net.ipv4.ip_forward"]).toBe("0");
      expect(plan.steps.map((s) => s.title)).toContain("real servers: HTTP");
      const full = planSite({ name: "b", mode });
      expect(full.up).toMatch(/ipvsadm -R/);
    });
  }

  it("NAT real servers have no default route (the wizard's script points it at the DIP); others keep theirs", () => {
    expect(planHost(planSite({ name: "b", mode: "nat", bare: true }), "rs1").defaultGateway).toBeNull();
    expect(planHost(planSite({ name: "b", mode: "dr", bare: true }), "rs1").defaultGateway).toBe("192.0.2.254");
    expect(planHost(planSite({ name: "b", mode: "fullnat", bare: true }), "rs1").defaultGateway).toBe("198.51.100.254");
  });

  it("refuses faults", () => {
    expect(() => planSite({ name: "b", mode: "dr", bare: true, faults: [{ kind: "rs-arp", rs: "rs1" }] })).toThrow(SiteSpecError);
  });
});
