// Validates Kubernetes objects (a multi-document YAML stream on stdin, e.g. the output of
// `kubectl kustomize`) against the Kubernetes API schemas.
//
//   node validate.mjs < rendered.yaml
//
// Two checks per object:
//   schema  kubernetes-models: the OpenAPI schema of the object's apiVersion/kind, compiled
//           to a validator (types, required fields, enums, formats). It accepts fields the
//           schema does not name, so:
//   fields  every field name, at every depth, must exist in the API type, using the model
//           type table of the official client (@kubernetes/client-node). This catches the
//           typo `readinesProbe`, which the API server would drop silently.
// An object of a kind neither library knows is an error.
//
// Prints one JSON report on stdout:
//   {"objects": [{"apiVersion","kind","namespace","name","ok","errors":[...],"object"}]}
// Exit status: 0 all valid, 1 some invalid, 2 unreadable input.

import * as k8s from "@kubernetes/client-node";
import yaml from "js-yaml";
import { readFileSync } from "node:fs";

const scalar_types = new Set(["string", "number", "boolean", "Date", "any", "IntOrString", "object"]);

// "apps/v1" + "DaemonSet" -> "V1DaemonSet" (the client's model class name).
function client_type_name(api_version, kind) {
  const version = api_version.split("/").pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

// "apps/v1" + "DaemonSet" -> "kubernetes-models/apps/v1/DaemonSet"; core is "v1".
function models_module(api_version, kind) {
  return `kubernetes-models/${api_version}/${kind}`;
}

function unknown_fields(value, type, path, errors) {
  if (value === null || value === undefined || scalar_types.has(type)) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => unknown_fields(v, m[1], `${path}[${i}]`, errors));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) unknown_fields(v, m[1], `${path}.${k}`, errors);
    }
    return;
  }
  const model = k8s[type];
  if (!model || typeof model.getAttributeTypeMap !== "function") return;  // opaque type
  if (typeof value !== "object" || Array.isArray(value)) return;  // the schema check reports it
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const field_type = fields.get(k);
    if (field_type === undefined) {
      errors.push(`${path}.${k}: unknown field (not in ${type})`);
    } else {
      unknown_fields(v, field_type, `${path}.${k}`, errors);
    }
  }
}

async function schema_errors(obj) {
  let mod;
  try {
    mod = await import(models_module(obj.apiVersion, obj.kind));
  } catch {
    return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  const model = mod[obj.kind];
  try {
    new model(obj).validate();
    return [];
  } catch (e) {
    return [`schema: ${e.message}`];
  }
}

async function check(obj) {
  const errors = [];
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return { ok: false, errors: ["document is not a mapping"] };
  }
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    return { ok: false, errors: ["apiVersion and kind are required strings"] };
  }
  errors.push(...(await schema_errors(obj)));
  const type = client_type_name(obj.apiVersion, obj.kind);
  if (!k8s[type] || typeof k8s[type].getAttributeTypeMap !== "function") {
    errors.push(`no API type ${type} for ${obj.apiVersion} ${obj.kind}`);
  } else {
    unknown_fields(obj, type, "", errors);
  }
  return { ok: errors.length === 0, errors };
}

async function main() {
  let docs;
  try {
    docs = yaml.loadAll(readFileSync(0, "utf8")).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    process.stderr.write(`validate: cannot parse input: ${e.message}\n`);
    process.exit(2);
  }
  const objects = [];
  for (const obj of docs) {
    const { ok, errors } = await check(obj);
    objects.push({
      apiVersion: obj?.apiVersion, kind: obj?.kind,
      namespace: obj?.metadata?.namespace ?? null, name: obj?.metadata?.name ?? null,
      ok, errors, object: obj,
    });
  }
  process.stdout.write(JSON.stringify({ objects }) + "\n");
  process.exit(objects.every((o) => o.ok) ? 0 : 1);
}

main();
