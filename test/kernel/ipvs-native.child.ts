// Run by test/kernel/ipvs-native.test.ts without CAP_NET_ADMIN: a snapshot through the native engine, and the
// kind and code of the IpvsError it fails with, on stdout.
import { IpvsClient, IpvsError } from "@/server/ipvs/netlink/client";
import { openIpvsTransport } from "@/server/kernel/genl/ipvs";

const client = new IpvsClient(openIpvsTransport({ native: { sockets: 2 } }));
try {
  await client.snapshot();
  console.log("no error");
} catch (e) {
  console.log(e instanceof IpvsError ? `${e.kind} ${e.code}` : `not an IpvsError: ${String(e)}`);
} finally {
  client.close();
}
