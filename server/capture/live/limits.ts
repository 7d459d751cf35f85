// What a capture session accepts, shared by the agent's op schemas (server/agent/protocol.ts, which the web
// server also loads: nothing here may import the capture library) and the session itself.

/** Interface names as the kernel takes them (IFNAMSIZ 16 with the NUL; no "/", ":" or blanks; not "." or ".."), and never starting with "-" (no name may read as an option anywhere it goes). */
export const INTERFACE_NAME = /^(?!\.\.?$)(?!-)[A-Za-z0-9_.-]{1,15}$/;

/** Interfaces one session captures on at most. */
export const MAX_INTERFACES = 4;
