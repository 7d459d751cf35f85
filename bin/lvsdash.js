#!/usr/bin/env node
// lvsdash: the project's command line, run from its TypeScript sources (server/cli/main.ts) through tsx's ESM
// loader, with the project's tsconfig (the "@/..." paths) wherever it is started from.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
const { runCli } = await import("../server/cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));
