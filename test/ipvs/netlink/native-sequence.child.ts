// Run as a plain node process by linux-transport.test.ts: requests in a row over one native socket, each
// started from the previous reply. Under vitest's worker the binding's re-entrancy crash (an uncaught
// Napi::Error that aborts the process) did not show; in a plain process it did, before linux.ts deferred
// delivery. Prints one line per reply, "done" at the end.
import { AttrEncoder } from "@/server/kernel/genl/attrs";
import { openGenlTransport } from "@/server/kernel/genl/linux";
import { CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY } from "@/server/kernel/genl/wire";

const t = openGenlTransport({ family: "nlctrl", version: 2, timeoutMs: 5000 });
for (let i = 0; i < 5; i++) {
  const r = await t.request(CTRL_CMD_GETFAMILY, new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, "nlctrl").finish());
  console.log(`reply ${i}: ${r.length}`);
}
const all = await t.request(CTRL_CMD_GETFAMILY, new Uint8Array(), { dump: true });
console.log(`dump: ${all.length > 1 ? "several" : "one"}`);
t.close();
console.log("done");
