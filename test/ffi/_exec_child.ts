// Prints its pid, then execs itself once with WEFT_T_EXEC_MARK=execed; the
// second run prints its pid, the mark and its arguments.

import { execSelf } from "../../ffi/mod.ts";

const mark = Deno.env.get("WEFT_T_EXEC_MARK") ?? "";
if (mark === "") {
  console.log(`before ${Deno.pid} mark=""`);
  execSelf({ ...Deno.env.toObject(), WEFT_T_EXEC_MARK: "execed" });
} else {
  console.log(
    `after ${Deno.pid} mark="${mark}" args=${Deno.args.join("|")}`,
  );
}
