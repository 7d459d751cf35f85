// The connections page's pure helpers: the filter it sends to the agent and the range check it makes before.
import { describe, expect, it } from "vitest";

import { cidrProblem, formatAge, formatBytes, NO_FILTER, splitHostPort, toQueryFilter } from "@/app/connections/_components/format";
import { connFilterSchema } from "@/server/ipvs/conntable/ops";

describe("the page's filter", () => {
  it("sends only what is set, in the agent's schema", () => {
    expect(toQueryFilter(NO_FILTER)).toEqual({});
    const f = toQueryFilter({ virtual: "TCP 192.0.2.100:80", real: "[2001:db8::2]:8080", clientCidr: " 203.0.113.0/24 ", states: ["ESTABLISHED"] });
    expect(f).toEqual({
      protocol: "TCP",
      virtual: { address: "192.0.2.100", port: 80 },
      real: { address: "2001:db8::2", port: 8080 },
      clientCidr: "203.0.113.0/24",
      states: ["ESTABLISHED"],
    });
    expect(connFilterSchema.safeParse(f).success).toBe(true);
    expect(splitHostPort("nonsense")).toBeNull();
  });

  it("checks a client range before asking", () => {
    expect(cidrProblem("")).toBeNull();
    expect(cidrProblem("203.0.113.7")).toBeNull();
    expect(cidrProblem("2001:db8::/32")).toBeNull();
    expect(cidrProblem("203.0.113.0/33")).toMatch(/0 to 32/);
    expect(cidrProblem("203.0.113.300/24")).toMatch(/above 255/);
    expect(cidrProblem("example.com")).toMatch(/not an IPv4 or IPv6/);
  });

  it("writes ages and sizes as an operator reads them", () => {
    expect(formatAge(4_400)).toBe("4 s");
    expect(formatAge(250_000)).toBe("4 min 10 s");
    expect(formatAge(7_500_000)).toBe("2 h 5 min");
    expect(formatBytes(812)).toBe("812 B");
    expect(formatBytes(65_300_000)).toBe("65 MB");
    expect(formatBytes(4_100)).toBe("4.1 KB");
  });
});
