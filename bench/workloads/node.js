// Strings and objects from a JIT: 300,000 JSON strings kept in an array (rate-1 stacks go
// through V8's generated code and its builtins, which no CFI describes: core/unwind.c).
let a = [];
for (let i = 0; i < 300000; i++) a.push(JSON.stringify({i, s: "x".repeat(i % 50)}));
console.log(a.length);
