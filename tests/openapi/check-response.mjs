#!/usr/bin/env node
// check-response.mjs: checks a JSON response body against the schema that
// docs/openapi.yaml gives for one operation and status, with Ajv (JSON
// Schema 2020-12, the dialect of OpenAPI 3.1).
//
//   node tests/openapi/check-response.mjs [--spec FILE] OPERATION_ID STATUS [BODY_FILE]
//   curl -s URL | node tests/openapi/check-response.mjs getProductRecommendations 200
//
// The body is read from BODY_FILE, or from stdin without one. Exit status: 0
// when the body is valid, 1 when it is not (each violation on stderr), 2 when
// the check cannot be made (unknown operation or status, no JSON schema for
// it, a body that is not JSON).
//
// As a module: `import { loadSpec, checkBody } from "./check-response.mjs"`;
// checkBody(spec, operationId, status, body) returns a list of violations
// (empty when valid) and throws when the check cannot be made.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import { parse } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
export const defaultSpec = join(here, "..", "..", "docs", "openapi.yaml");

const methods = ["get", "head", "put", "post", "delete", "options", "patch", "trace"];

export function loadSpec(file = defaultSpec) {
  return parse(readFileSync(file, "utf8"));
}

// Follows a local "$ref" ("#/components/...") of the document.
function deref(spec, node) {
  for (let hops = 0; node && typeof node.$ref === "string"; hops++) {
    if (!node.$ref.startsWith("#/") || hops > 16) throw new Error(`unsupported $ref ${node.$ref}`);
    node = node.$ref
      .slice(2)
      .split("/")
      .reduce((at, key) => (at === undefined ? undefined : at[key.replace(/~1/g, "/").replace(/~0/g, "~")]), spec);
  }
  if (node === undefined) throw new Error("a $ref points at nothing");
  return node;
}

function findOperation(spec, operationId) {
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of methods) {
      if (item[method]?.operationId === operationId) return { path, method, op: item[method] };
    }
  }
  throw new Error(`no operation ${operationId} in the description`);
}

// The response object for a status: the exact code, else "4XX"-style
// ranges, else "default" (the OpenAPI precedence).
function findResponse(spec, op, status) {
  const code = String(status);
  const responses = op.responses ?? {};
  const response = responses[code] ?? responses[`${code[0]}XX`] ?? responses.default;
  if (response === undefined) throw new Error(`no response ${code} for ${op.operationId}`);
  return deref(spec, response);
}

// Component schemas refer to each other as "#/components/schemas/X"; inside
// one standalone schema they become "#/$defs/X".
function rebase(node) {
  if (Array.isArray(node)) return node.map(rebase);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] =
      key === "$ref" && typeof value === "string" && value.startsWith("#/components/schemas/")
        ? `#/$defs/${value.slice("#/components/schemas/".length)}`
        : rebase(value);
  }
  return out;
}

const validators = new WeakMap();

function validatorFor(spec, operationId, status) {
  let cache = validators.get(spec);
  if (!cache) validators.set(spec, (cache = new Map()));
  const key = `${operationId} ${status}`;
  if (cache.has(key)) return cache.get(key);

  const { op } = findOperation(spec, operationId);
  const response = findResponse(spec, op, status);
  const media = response.content?.["application/json"];
  if (!media?.schema) throw new Error(`response ${status} of ${operationId} has no application/json schema`);

  const ajv = new Ajv2020({ strict: true, allErrors: true });
  // The OpenAPI formats the description uses, checked rather than ignored.
  ajv.addFormat("int32", { type: "number", validate: (x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (x) => Number.isInteger(x) });
  const schema = { $defs: rebase(spec.components?.schemas ?? {}), ...rebase(media.schema) };
  const validate = ajv.compile(schema);
  cache.set(key, validate);
  return validate;
}

// The violations of body (a JSON text or a parsed value), or [] when valid.
export function checkBody(spec, operationId, status, body) {
  const validate = validatorFor(spec, operationId, status);
  let value = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(String(body));
    } catch (err) {
      throw new Error(`the body is not JSON: ${err.message}`);
    }
  }
  if (validate(value)) return [];
  return validate.errors.map((e) => `${e.instancePath || "(body)"} ${e.message} (${e.schemaPath})`);
}

function main(argv) {
  const args = [...argv];
  let specFile = defaultSpec;
  if (args[0] === "--spec") {
    specFile = args[1];
    args.splice(0, 2);
  }
  if (args.length < 2 || args.length > 3 || !/^[1-5][0-9][0-9]$/.test(args[1])) {
    console.error("usage: check-response.mjs [--spec FILE] OPERATION_ID STATUS [BODY_FILE]");
    return 2;
  }
  const [operationId, status, bodyFile] = args;
  let problems;
  try {
    const body = readFileSync(bodyFile ?? 0);
    problems = checkBody(loadSpec(specFile), operationId, Number(status), body);
  } catch (err) {
    console.error(`check-response: ${err.message}`);
    return 2;
  }
  for (const p of problems) console.error(`check-response: ${operationId} ${status}: ${p}`);
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
