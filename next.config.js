// Next.js configuration (ESM: package.json has "type": "module").
/** @type {import("next").NextConfig} */
const config = {
  // Native addons are loaded with Node's require at run time, never bundled.
  serverExternalPackages: ["netlink", "pcap", "better-sqlite3"],
  // The dashboard is served by its own process (server/main.ts) on a loopback address by default.
  poweredByHeader: false,
};

export default config;
