import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { compareRulesWithProc } from "@/server/ipvs/rules/compare";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { formatRuleError, parseIpvsadmRules } from "@/server/ipvs/rules/parse";
import { buildRuleTable, loadIpvsadmRules } from "@/server/ipvs/rules/table";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/${name}`, import.meta.url), "utf8");
const RICH = fixture("rules-rich/rules.txt");

/** parse -> build -> emit, failing on any error. */
function roundTrip(text: string): string {
  const { table, errors } = loadIpvsadmRules(text);
  expect(errors.map(formatRuleError)).toEqual([]);
  return emitIpvsadmSave(table);
}

/** The one error a text gives, formatted. */
function errorOf(text: string): string {
  const { errors } = loadIpvsadmRules(text);
  expect(errors, text).toHaveLength(1);
  return formatRuleError(errors[0] as never);
}

describe("ipvsadm rules: the real DR table", () => {
  it("parses and emits ipvsadm-save -n byte for byte", () => {
    const save = fixture("dr/dr-healthy.ipvsadm-save.txt");
    expect(roundTrip(save)).toBe(save);
  });

  it("agrees with /proc/net/ip_vs of the same moment", () => {
    const { table } = loadIpvsadmRules(fixture("dr/dr-healthy.ipvsadm-save.txt"));
    expect(compareRulesWithProc(table, parseProcIpVs(fixture("dr/dr-healthy.proc.ip_vs.txt")))).toEqual([]);
  });
});

describe("ipvsadm rules: the rich rules file", () => {
  it("loads without errors and round-trips parse -> emit -> parse -> emit", () => {
    const once = roundTrip(RICH);
    expect(roundTrip(once)).toBe(once);
    // What it holds after -E/-e/-d/-D: checked line by line against what ipvsadm-save showed in the lab.
    expect(once).toContain("-A -t 192.0.2.130:80 -s wlc\n-a -t 192.0.2.130:80 -r 192.0.2.41:80 -m -w 7\n");
    expect(once).not.toContain("192.0.2.131");
    expect(once).not.toContain("192.0.2.42");
  });

  it("keeps what ipvsadm-save leaves out, and writes it on request", () => {
    const { table } = loadIpvsadmRules(RICH);
    expect(table.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    const nat = table.services.find((s) => s.key.kind === "address" && s.key.port === 443 && s.key.family === 4);
    expect(nat?.realServers[0]).toMatchObject({ address: "198.51.100.21", port: 8443, upperThreshold: 100, lowerThreshold: 50 });
    expect(emitIpvsadmSave(table)).not.toContain(" -x ");
    const full = emitIpvsadmSave(table, { thresholds: true });
    expect(full).toContain("-a -t 192.0.2.100:443 -r 198.51.100.21:8443 -m -w 5 -x 100 -y 50\n");
    // and reads back to the same table (thresholds included)
    expect(emitIpvsadmSave(loadIpvsadmRules(full).table, { thresholds: true })).toBe(full);
  });

  it("reads every spelling: long options, =values, clusters, the ipvsadm prefix, quotes", () => {
    const a = roundTrip(
      [
        "ipvsadm --add-service --udp-service=[2001:db8::5]:53 --scheduler=sh --sched-flags=sh-port --persistent=60 --netmask=64 --ops",
        "--add-server --udp-service [2001:db8::5]:53 --real-server '[2001:db8::6]:5353' --masquerading --weight 9",
        "-At192.0.2.5:80 -srr -p",
        "-a -t 192.0.2.5:80 -r192.0.2.6 -w3",
        "-A --fwmark-service 9 --ipv6 -s rr",
        "-A -f 10 -s dh --pe sip -p",
      ].join("\n"),
    );
    expect(a).toBe(
      [
        "-A -t 192.0.2.5:80 -s rr -p 360",
        "-a -t 192.0.2.5:80 -r 192.0.2.6:80 -g -w 3",
        "-A -u [2001:db8::5]:53 -s sh -p 60 -M 64 -o -b sh-port",
        "-a -u [2001:db8::5]:53 -r [2001:db8::6]:5353 -m -w 9",
        "-A -f 9 -6 -s rr",
        "-A -f 10 -s dh -p 360 --pe sip",
        "",
      ].join("\n"),
    );
  });

  it("reads sync daemon and timeout lines", () => {
    const { commands, errors } = parseIpvsadmRules(
      "--start-daemon master --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 8849 --mcast-ttl 2\n" +
        "--start-daemon backup --mcast-group ff02::81\n--stop-daemon backup\n--set 0 0 600\n-C\n-Z\n-Z -t 192.0.2.1:80\n",
    );
    expect(errors).toEqual([]);
    expect(commands.map((c) => c.op)).toEqual(["start-daemon", "start-daemon", "stop-daemon", "set-timeouts", "clear", "zero", "zero"]);
    expect(commands[0]).toMatchObject({
      daemon: { state: "master", mcastInterface: "eth1", syncId: 7, syncMaxLen: 1400, mcastGroup: "239.1.2.3", mcastPort: 8849, mcastTtl: 2 },
    });
    expect(commands[1]).toMatchObject({ daemon: { state: "backup", mcastInterface: "eth0", mcastGroup: "ff02::81" } });
    const built = buildRuleTable(commands.slice(0, 4));
    expect(built.table.daemons.map((d) => d.state)).toEqual(["master"]);
    expect(built.table.timeouts).toEqual({ tcp: 0, tcpFin: 0, udp: 600 });
  });
});

describe("ipvsadm rules: ordering as ipvsadm-save sorts", () => {
  it("sorts services by fwmark, family, protocol, address, port and real servers by address, port", () => {
    const out = roundTrip(
      [
        "-A -f 2 -s rr",
        "-A -f 1 -6 -s rr",
        "-A --sctp-service 192.0.2.1:1 -s rr",
        "-A -u 192.0.2.1:1 -s rr",
        "-A -t [2001:db8::1]:1 -s rr",
        "-A -t 192.0.2.10:80 -s rr",
        "-A -t 192.0.2.9:443 -s rr",
        "-A -t 192.0.2.9:80 -s rr",
        "-a -t 192.0.2.9:80 -r 192.0.2.100 -g",
        "-a -t 192.0.2.9:80 -r 192.0.2.20 -g",
        "-a -t 192.0.2.9:80 -r 127.0.0.1 -g",
      ].join("\n"),
    );
    expect(out.split("\n").filter(Boolean)).toEqual([
      "-A -t 192.0.2.9:80 -s rr",
      "-a -t 192.0.2.9:80 -r 127.0.0.1:80 -g -w 1",
      "-a -t 192.0.2.9:80 -r 192.0.2.20:80 -g -w 1",
      "-a -t 192.0.2.9:80 -r 192.0.2.100:80 -g -w 1",
      "-A -t 192.0.2.9:443 -s rr",
      "-A -t 192.0.2.10:80 -s rr",
      "-A -u 192.0.2.1:1 -s rr",
      "-A --sctp-service 192.0.2.1:1 -s rr",
      "-A -t [2001:db8::1]:1 -s rr",
      "-A -f 1 -6 -s rr",
      "-A -f 2 -s rr",
    ]);
  });

  it("replicates libipvs's signed 32-bit comparison (addresses more than 2^31 apart sort 'backwards')", () => {
    // Not addresses to send traffic to: the order of two table rows only.
    const out = roundTrip(["-A -t 10.0.0.1:80 -s rr", "-A -t 192.0.2.1:80 -s rr"].join("\n"));
    expect(out).toBe("-A -t 192.0.2.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n");
  });
});

describe("ipvsadm rules: errors in the admin's words, with line and column", () => {
  const base = "-A -t 192.0.2.1:80 -s rr\n";
  it.each([
    ["-A -t 192.0.2.2:80 -s foo", 'line 1, column 23 (-s): unknown scheduler "foo" (known: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)'],
    ["-A -t 192.0.2.2:65536", 'line 1, column 7 (-t): virtual service "192.0.2.2:65536": port 65536 is out of range (0..65535)'],
    ["-A -t 192.0.2.2", "line 1, column 7 (-t): port 0 (any port) is only allowed for a persistent service (-p)"],
    ["-A -t 192.0.2.2:0", "line 1, column 7 (-t): port 0 (any port) is only allowed for a persistent service (-p)"],
    ["-A -t www.example.org:80", 'line 1, column 7 (-t): virtual service "www.example.org:80": "www.example.org" is not a numeric address (host names are not resolved)'],
    ["-A -t 192.0.2.2:http", 'line 1, column 7 (-t): virtual service "192.0.2.2:http": port "http" is not a number (service names are not resolved)'],
    ["-A -t 192.0.2.2:80 -o", "line 1, column 20 (-o): one-packet scheduling (-o) is only for UDP and fwmark services"],
    ["-A -t 192.0.2.2:80 -p 2678401", "line 1, column 23 (-p): persistence timeout 2678401 is out of range (1..2678400)"],
    ["-A -t 192.0.2.2:80 -M 255.255.255.0", "line 1, column 20 (-M): a netmask (-M) only applies to a persistent service (-p)"],
    ["-A -t [2001:db8::2]:80 -p -M 255.255.255.0", 'line 1, column 30 (-M): IPv6 netmask "255.255.255.0" must be a prefix length from 1 to 128'],
    ["-A -t 192.0.2.2:80 -s rr -b sh-port", 'line 1, column 29 (-b): scheduler flag "sh-port" is for the sh scheduler, not rr'],
    ["-A -t 192.0.2.2:80 -b sh-port", 'line 1, column 23 (-b): scheduler flag "sh-port" is for the sh scheduler, not wlc'],
    ["-A -t 192.0.2.2:80 --pe http", 'line 1, column 25 (--pe): unknown persistence engine "http" (known: sip)'],
    ["-A -t 192.0.2.2:80 -w 3", "line 1, column 20 (-w): -w does not go with -A (add service) (it is a real server option)"],
    ["-A -t 192.0.2.2:80 -u 192.0.2.2:80", "line 1, column 20 (-u): one virtual service per line: -t and -u both given"],
    ["-A -s rr", "line 1, column 1 (-A): -A (add service) needs a virtual service (-t, -u, --sctp-service or -f)"],
    ["-A -f 0", 'line 1, column 7 (-f): fwmark "0" must be a whole number from 1 to 4294967295'],
    ["-A -t 192.0.2.2:80 -6", "line 1, column 20 (-6): -6 goes with a fwmark service (-f); an IPv6 address says it already"],
    ["-A -t 192.0.2.2:80 -a", "line 1, column 20 (-a): one command per line: -A and -a both given"],
    ["-t 192.0.2.2:80", "line 1, column 1: no command: a rule starts with -A, -E, -D, -a, -e, -d, -C, -Z, --set, --start-daemon or --stop-daemon"],
    ["-L -n", "line 1, column 1 (-L): -L lists the table, it is not a rule"],
    ["-AtX", 'line 1, column 4 (-t): virtual service "X": "X" is not a numeric address (host names are not resolved)'],
    ["-AqT", 'line 1, column 3 (-q): unknown option "-q"'],
    ["-A -t 192.0.2.2:80 --frobnicate", 'line 1, column 20 (--frobnicate): unknown option "--frobnicate"'],
    ["-A -t 192.0.2.2:80 extra", 'line 1, column 20: unexpected word "extra"'],
    ["-A -t 192.0.2.2:80 -s", "line 1, column 20 (-s): -s needs a value"],
    ["-A -t 192.0.2.2:80 -o --ops", "line 1, column 23 (--ops): --ops given twice (also at column 20)"],
    ['-A -t "192.0.2.2:80', "line 1: unterminated quote at column 7"],
    ["--set 1 2", "line 1, column 1 (--set): --set needs 3 timeouts (tcp tcpfin udp), got 2"],
    ["--set 1 2 x", 'line 1, column 11 (--set): udp timeout "x" is not a whole number'],
    ["--start-daemon primary", '--start-daemon wants master or backup, not "primary"'],
    ["--start-daemon master --mcast-group 192.0.2.1", '"192.0.2.1" is not a multicast address'],
    ["--start-daemon master --syncid 256", "sync id 256 is out of range (0..255)"],
  ])("%s", (line, message) => {
    expect(errorOf(line)).toContain(message);
  });

  it.each([
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -w 2147483648", "line 2, column 37 (-w): weight 2147483648 is out of range (0..2147483647)"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -w -1", "weight -1 is out of range (0..2147483647)"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -x 10 -y 50", "line 2, column 40 (-y): lower threshold 50 is above the upper threshold 10"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -g -m", "line 2, column 37 (-m): one forwarding method per real server: -g and -m both given"],
    ["-a -t 192.0.2.1:80 -r [2001:db8::11]", 'real server "[2001:db8::11]": expected :port after ]'],
    ["-a -t 192.0.2.1:80 -r 2001:db8::11", "real server 2001:db8::11 is IPv6 and the service IPv4: only tunnelling (-i) crosses families"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 --tun-type gre", "--tun-type is a tunnel option: it needs -i (ipip forwarding)"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue", "the gue tunnel type needs --tun-port"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type vxlan", 'unknown tunnel type "vxlan" (known: ipip gue gre)'],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-port 6080", "--tun-port does not apply to the ipip tunnel type"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gre --tun-remcsum", "--tun-remcsum does not apply to the gre tunnel type"],
    ["-a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum", "line 2, column 76 (--tun-nocsum): --tun-csum and --tun-nocsum contradict each other"],
    ["-a -t 192.0.2.1:80 -s rr", "-s does not go with -a (add real server) (it is a virtual service option)"],
    ["-a -t 192.0.2.1:80", "-a (add real server) needs a real server (-r)"],
    ["-a -t 192.0.2.9:80 -r 192.0.2.11", "line 2: real server 192.0.2.11:80 for -t 192.0.2.9:80, a service not defined earlier (add it with -A first)"],
    ["-A -t 192.0.2.1:80", "line 2: service -t 192.0.2.1:80 is already defined (line 1)"],
    ["-E -t 192.0.2.9:80", "line 2: -E: service -t 192.0.2.9:80 is not defined (add it with -A first)"],
    ["-D -u 192.0.2.1:80", "line 2: -D: service -u 192.0.2.1:80 is not defined"],
    ["-e -t 192.0.2.1:80 -r 192.0.2.99", "line 2: -e: real server 192.0.2.99:80 is not in -t 192.0.2.1:80"],
    ["-d -t 192.0.2.1:80 -r 192.0.2.99", "line 2: -d: real server 192.0.2.99:80 is not in -t 192.0.2.1:80"],
    ["-Z -t 192.0.2.9:80", "line 2: -Z: service -t 192.0.2.9:80 is not defined"],
    ["--stop-daemon master", "line 2: --stop-daemon: no master sync daemon is running"],
  ])("%s", (line, message) => {
    expect(errorOf(base + line)).toContain(message);
  });

  it("reports every bad line of a file, in line order, and keeps the good ones", () => {
    const { table, errors } = loadIpvsadmRules(
      ["# comment", "-A -t 192.0.2.1:80 -s rr", "-a -t 192.0.2.1:80 -r 192.0.2.11 -w 99999999999", "", "-a -t 192.0.2.8:80 -r 192.0.2.12", "-a -t 192.0.2.1:80 -r 192.0.2.13 -w 2"].join("\n"),
    );
    expect(errors.map((e) => [e.line, e.option])).toEqual([
      [3, "-w"],
      [5, undefined],
    ]);
    expect(emitIpvsadmSave(table)).toBe("-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.13:80 -g -w 2\n");
  });
});

describe("compareRulesWithProc", () => {
  it("names each difference", () => {
    const proc = parseProcIpVs(fixture("dr/dr-healthy.proc.ip_vs.txt"));
    const { table } = loadIpvsadmRules(
      "-A -t 192.0.2.100:80 -s rr -p 60\n-a -t 192.0.2.100:80 -r 192.0.2.11 -m -w 1\n-a -t 192.0.2.100:80 -r 192.0.2.13 -g\n-A -u 192.0.2.100:53 -s rr\n",
    );
    expect(compareRulesWithProc(table, proc)).toEqual([
      "service -t 192.0.2.100:80: scheduler rr in the rules, wrr in the kernel",
      "service -t 192.0.2.100:80: persistent in the rules, not persistent in the kernel",
      "real server 192.0.2.11:80 of -t 192.0.2.100:80: forwarding Masq in the rules, Route in the kernel",
      "real server 192.0.2.13:80 of -t 192.0.2.100:80 is in the rules but not in the kernel",
      "real server 192.0.2.12:80 of -t 192.0.2.100:80 is in the kernel but not in the rules",
      "service -u 192.0.2.100:53 is in the rules but not in the kernel",
    ]);
  });
});
