// The type-level test, checked from the outside with the TypeScript
// compiler API: the `@ts-expect-error` lines of types.check.ts are all real
// errors (the file compiles clean), a wrong argument type is error TS2345, and
// an `@ts-expect-error` over a correct call is itself an error (TS2578), so
// the check would fail if the generated types stopped catching mistakes.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import ts from "typescript";

import { repoRoot } from "./server.js";

const testDir = join(repoRoot, "ts", "test");
const checkFile = join(testDir, "types.check.ts");

const config = ts.getParsedCommandLineOfConfigFile(join(repoRoot, "ts", "tsconfig.test.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, "\n")),
});
assert.ok(config);
// The check file needs neither Node's nor the DOM's types: leaving them out keeps this fast.
const options = { ...config.options, noEmit: true, types: [], lib: ["lib.es2022.d.ts"] };
let checkText = "";
const host = ts.createCompilerHost(options);
const readSourceFile = host.getSourceFile.bind(host);
const parsed = new Map<string, ts.SourceFile | undefined>();
host.getSourceFile = (name, version, ...rest) => {
  if (name === checkFile) return ts.createSourceFile(name, checkText, version);
  if (!parsed.has(name)) parsed.set(name, readSourceFile(name, version, ...rest));
  return parsed.get(name);
};
let previous: ts.Program | undefined;

/** Type-checks `text` as if it were test/types.check.ts; returns the error codes. */
function errorCodes(text: string): number[] {
  checkText = text;
  const program = ts.createProgram([checkFile], options, host, previous);
  previous = program;
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(checkFile)).map((d) => d.code);
}

const original = readFileSync(checkFile, "utf8");

test("types.check.ts compiles: every @ts-expect-error line is an error", () => {
  assert.deepEqual(errorCodes(original), []);
});

test("a wrong argument type is a compile error", () => {
  const without = original.replace('// @ts-expect-error: a string is not a number (wrong argument type)\n', "");
  assert.notEqual(without, original);
  assert.deepEqual(errorCodes(without), [2345]); // Argument of type 'string' is not assignable to 'number'
});

test("an @ts-expect-error over a correct call fails the check", () => {
  const fixed = original.replace('void calc.add("2", 3);', "void calc.add(2, 3);");
  assert.notEqual(fixed, original);
  assert.deepEqual(errorCodes(fixed), [2578]); // Unused '@ts-expect-error' directive
});
