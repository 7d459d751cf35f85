// keepalived.conf virtual_server blocks <-> the IPVS rule table: realistic configurations (keepalived's own
// sample layouts: DR with HTTP_GET, NAT with TCP_CHECK and a sorry server, TUN, fwmark, persistence,
// UDP), the old and new keyword names, defaults, errors with their lines, and the round trip through
// emitKeepalived. The table is then what ipvsadm-save would print for it (server/ipvs/rules/emit.ts).
import { describe, expect, it } from "vitest";

import { emitKeepalived } from "@/server/ipvs/keepalived/emit";
import { importKeepalived, parseKeepalivedConf } from "@/server/ipvs/keepalived/parse";
import { checkRuleTable } from "@/server/ipvs/apply/validate";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";

const SAMPLE = `
! Configuration File for keepalived
global_defs {
   notification_email {
     admin@example.org
   }
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.0.2.100
    }
}

# web: direct routing, weighted, HTTP health checks
virtual_server 192.0.2.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    persistence_timeout 50
    protocol TCP

    real_server 192.0.2.11 80 {
        weight 1
        HTTP_GET {
            url {
              path /health
              status_code 200
            }
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }
    real_server 192.0.2.12 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 3
        }
    }
}

virtual_server 203.0.113.10 443 {
    delay_loop 10
    lvs_sched lc
    lvs_method NAT
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    protocol TCP
    sorry_server 198.51.100.200 8443
    real_server 198.51.100.11 8443 {
        weight 3
        uthreshold 1000
        lthreshold 100
        SSL_GET { url { path / digest 9b3a0c85a887a256d6939da88aabd8cd } }
    }
}

virtual_server 192.0.2.101 53 {
    lb_algo rr
    lb_kind TUN
    protocol UDP
    ops
    real_server 192.0.2.21 53 {
        weight 0
    }
    real_server 192.0.2.22 {
    }
}

virtual_server fwmark 7 {
    lb_algo sh
    sh-port
    lb_kind DR
    persistence_timeout 360
    real_server 192.0.2.11 0 { weight 1 }
}
`;

describe("importKeepalived", () => {
  const { table, errors, notes } = importKeepalived(SAMPLE);

  it("reads every virtual_server and nothing else, without errors", () => {
    expect(errors).toEqual([]);
    expect(table.services.map((s) => s.key)).toEqual([
      { kind: "address", protocol: "TCP", family: 4, address: "192.0.2.100", port: 80 },
      { kind: "address", protocol: "TCP", family: 4, address: "203.0.113.10", port: 443 },
      { kind: "address", protocol: "UDP", family: 4, address: "192.0.2.101", port: 53 },
      { kind: "fwmark", fwmark: 7, family: 4 },
    ]);
  });

  it("DR with weights and persistence", () => {
    expect(table.services[0]).toEqual({
      key: { kind: "address", protocol: "TCP", family: 4, address: "192.0.2.100", port: 80 },
      scheduler: "wrr",
      schedFlags: [],
      onePacket: false,
      persistent: { timeout: 50, netmask: "255.255.255.255" },
      realServers: [
        { family: 4, address: "192.0.2.11", port: 80, forward: "gatewaying", weight: 1, upperThreshold: 0, lowerThreshold: 0 },
        { family: 4, address: "192.0.2.12", port: 80, forward: "gatewaying", weight: 2, upperThreshold: 0, lowerThreshold: 0 },
      ],
    });
  });

  it("NAT with the new keyword names, granularity, thresholds and a port map", () => {
    expect(table.services[1]).toMatchObject({
      scheduler: "lc",
      persistent: { timeout: 600, netmask: "255.255.255.0" },
      realServers: [{ address: "198.51.100.11", port: 8443, forward: "masquerading", weight: 3, upperThreshold: 1000, lowerThreshold: 100 }],
    });
  });

  it("TUN over UDP with one-packet scheduling, weight 0, and a real server port defaulting to the VIP's", () => {
    expect(table.services[2]).toMatchObject({
      scheduler: "rr",
      onePacket: true,
      realServers: [
        { address: "192.0.2.21", port: 53, forward: "ipip", weight: 0 },
        { address: "192.0.2.22", port: 53, forward: "ipip", weight: 1 },
      ],
    });
    expect(table.services[2]!.persistent).toBeUndefined();
  });

  it("fwmark with a scheduler flag", () => {
    expect(table.services[3]).toMatchObject({ scheduler: "sh", schedFlags: ["sh-port"], persistent: { timeout: 360 }, realServers: [{ address: "192.0.2.11", port: 0, forward: "gatewaying" }] });
  });

  it("says what it did not import: health checks and the sorry server", () => {
    expect(notes).toEqual([
      expect.stringMatching(/^virtual_server 192\.0\.2\.100 80: 2 health check/),
      expect.stringMatching(/^virtual_server 203\.0\.113\.10 443: sorry_server 198\.51\.100\.200 8443/),
      expect.stringMatching(/^virtual_server 203\.0\.113\.10 443: 1 health check/),
    ]);
  });

  it("gives a table the apply validator accepts and ipvsadm-save can print", () => {
    expect(checkRuleTable(table)).toEqual([]);
    const save = emitIpvsadmSave(table);
    expect(save).toContain("-A -t 192.0.2.100:80 -s wrr -p 50");
    expect(save).toContain("-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2");
    expect(save).toContain("-A -t 203.0.113.10:443 -s lc -p 600 -M 255.255.255.0");
    expect(save).toContain("-a -u 192.0.2.101:53 -r 192.0.2.21:53 -i -w 0");
    expect(save).toContain("-A -f 7 -s sh -p 360 -b sh-port");
  });

  it("uses keepalived's defaults: wlc, NAT, TCP, weight 1", () => {
    const r = importKeepalived("virtual_server 192.0.2.100 80 {\n real_server 198.51.100.11 80 {\n }\n}\n");
    expect(r.errors).toEqual([]);
    expect(r.table.services[0]).toMatchObject({ scheduler: "wlc", key: { protocol: "TCP" }, realServers: [{ forward: "masquerading", weight: 1 }] });
  });

  it("reads braces on their own lines and comments after words", () => {
    const r = importKeepalived("virtual_server 192.0.2.100 80   # web\n{\n  lb_kind DR ! direct\n  real_server 192.0.2.11 80\n  {\n    weight 4\n  }\n}\n");
    expect(r.errors).toEqual([]);
    expect(r.table.services[0]!.realServers).toMatchObject([{ address: "192.0.2.11", weight: 4, forward: "gatewaying" }]);
  });

  it.each([
    ["a bad VIP", "virtual_server 192.0.2.300 80 {\n}\n", 1, /not an IP address/],
    ["a bad port", "virtual_server 192.0.2.100 70000 {\n}\n", 1, /port 70000/],
    ["an unknown lb_kind", "virtual_server 192.0.2.100 80 {\n lb_kind FULLNAT\n}\n", 2, /not NAT, DR or TUN/],
    ["an unknown protocol", "virtual_server 192.0.2.100 80 {\n protocol ICMP\n}\n", 2, /not TCP, UDP or SCTP/],
    ["a bad weight", "virtual_server 192.0.2.100 80 {\n real_server 192.0.2.11 80 {\n  weight -1\n }\n}\n", 3, /weight/],
    ["an unknown keyword", "virtual_server 192.0.2.100 80 {\n lb_algo rr\n frobnicate 1\n}\n", 3, /unknown keyword frobnicate/],
    ["a virtual_server_group", "virtual_server_group G {\n 192.0.2.100 80\n}\n", 1, /not supported/],
    ["a group reference", "virtual_server group G {\n}\n", 1, /not supported/],
    ["an include", "include /etc/keepalived/conf.d/*.conf\n", 1, /include is not followed/],
    ["a missing brace", "virtual_server 192.0.2.100 80 {\n lb_algo rr\n", 2, /a "}" is missing/],
    ["a scheduler name with shell characters", "virtual_server 192.0.2.100 80 {\n lb_algo rr;reboot\n}\n", 2, /not a scheduler name/],
  ])("reports %s with its line", (_what, text, line, message) => {
    const r = importKeepalived(text);
    expect(r.errors).toContainEqual({ line, message: expect.stringMatching(message) });
  });

  it("parses the generic structure (blocks, words, lines)", () => {
    const { nodes, errors } = parseKeepalivedConf("a 1 2 {\n b {\n c\n }\n}\nd");
    expect(errors).toEqual([]);
    expect(nodes).toEqual([
      { line: 1, words: ["a", "1", "2"], children: [{ line: 2, words: ["b"], children: [{ line: 3, words: ["c"] }] }] },
      { line: 6, words: ["d"] },
    ]);
  });
});

describe("emitKeepalived", () => {
  it("round-trips the sample: import(emit(table)) is the same table", () => {
    const { table } = importKeepalived(SAMPLE);
    const text = emitKeepalived(table);
    const again = importKeepalived(text);
    expect(again.errors).toEqual([]);
    expect(again.table).toEqual(table);
  });

  it("writes an ipvsadm-save table as keepalived blocks, mixed forwarding per real server", () => {
    const { table, errors } = loadIpvsadmRules(
      [
        "-A -t 192.0.2.100:80 -s wrr -p 300 -M 255.255.255.0",
        "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
        "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -i -w 2",
        "-A -u 192.0.2.100:53 -s rr",
        "-a -u 192.0.2.100:53 -r 198.51.100.11:5353 -m -w 1",
        "",
      ].join("\n"),
    );
    expect(errors).toEqual([]);
    const text = emitKeepalived(table);
    expect(text).toBe(
      [
        "! lvs-dashboard export: the IPVS services as keepalived virtual_server blocks",
        "! No health checks: add a TCP_CHECK or HTTP_GET to each real_server, or keepalived keeps them all in service.",
        "",
        "virtual_server 192.0.2.100 80 {",
        "    lvs_sched wrr",
        "    lvs_method DR",
        "    persistence_timeout 300",
        "    persistence_granularity 255.255.255.0",
        "    protocol TCP",
        "    real_server 192.0.2.11 80 {",
        "        weight 1",
        "    }",
        "    real_server 192.0.2.12 80 {",
        "        weight 2",
        "        lvs_method TUN",
        "    }",
        "}",
        "",
        "virtual_server 192.0.2.100 53 {",
        "    lvs_sched rr",
        "    lvs_method NAT",
        "    protocol UDP",
        "    real_server 198.51.100.11 5353 {",
        "        weight 1",
        "    }",
        "}",
        "",
      ].join("\n"),
    );
    const back = importKeepalived(text);
    expect(back.errors).toEqual([]);
    expect(emitIpvsadmSave(back.table)).toBe(emitIpvsadmSave(table));
  });
});
