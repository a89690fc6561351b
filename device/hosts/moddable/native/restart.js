// A host function implemented in restart.c. XS binds `@ "name"` to a C
// function at link time; TypeScript has no syntax for it, hence plain JS.
export default function restart() @ "xs_printbridge_restart";
