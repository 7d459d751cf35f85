// What the wizard knows of a director before it plans: the IPVS table, the interfaces and their IPv4
// addresses, the routes, the sysctls it may change, the kernel modules it needs and the nftables tables.
// The agent reads it (server/wizards/agent.ts, through server/kernel/); preflight and plan are pure functions
// of it, and the rollback check compares two of them.
import { parseIPv4 } from "@/server/ipvs/proc/addr";
import type { TableState } from "@/server/ipvs/snapshot/model";
import type { ModuleAvailability } from "@/server/kernel/modules";

export interface LinkState {
  ifname: string;
  up: boolean;
}

export interface AddressState {
  ifname: string;
  address: string;
  prefixLen: number;
}

export interface RouteState {
  /** "default" or "a.b.c.d/len" */
  dst: string;
  gateway?: string;
  dev?: string;
}

export interface DirectorState {
  /** null: IPVS is not loaded (the reason says why). */
  ipvs: TableState | null;
  ipvsReason?: string;
  links: LinkState[];
  addresses: AddressState[];
  routes: RouteState[];
  /** The sysctls asked for; null = the key does not exist here. */
  sysctls: Record<string, string | null>;
  modules: Record<string, ModuleAvailability>;
  /** nftables tables as "family name". */
  nftTables: string[];
}

/** What the wizard needs read for an input (sysctl keys and module names). */
export interface StateWanted {
  sysctls: string[];
  modules: string[];
}

const mask = (len: number) => (len === 0 ? 0 : (~0 << (32 - len)) >>> 0);

/** True when `address` is inside `network/prefixLen`. */
export function inSubnet(address: string, network: string, prefixLen: number): boolean {
  const a = parseIPv4(address);
  const n = parseIPv4(network);
  if (a === null || n === null) return false;
  const m = mask(prefixLen);
  return ((a & m) >>> 0) === ((n & m) >>> 0);
}

/** The director's address on `ifname` whose subnet holds `address` (the DIP for that host), if any. */
export function connectedAddress(state: DirectorState, ifname: string, address: string): AddressState | undefined {
  return state.addresses.find((a) => a.ifname === ifname && a.prefixLen < 32 && inSubnet(address, a.address, a.prefixLen));
}

export function addressesOn(state: DirectorState, ifname: string): AddressState[] {
  return state.addresses.filter((a) => a.ifname === ifname);
}
