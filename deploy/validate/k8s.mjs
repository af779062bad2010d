// Offline validation of the Kubernetes manifests (scripts/check-deploy.sh runs it):
//
//   node deploy/validate/k8s.mjs NODE_MODULES OUT_DIR deploy/k8s/*.yaml
//
// For every document of every file:
//  1. kubernetes-models: the JSON Schemas its authors generated from the Kubernetes OpenAPI
//     specification (shipped compiled by Ajv) — field types, required fields, enums, formats,
//     int-or-string and quantities. It tolerates unknown fields, as the API server's schemas do.
//  2. A strict JSON Schema (draft-07, `additionalProperties: false` everywhere, like
//     `kubectl apply --validate=strict`) written to OUT_DIR/<file>-<n>.schema.json beside the
//     document as OUT_DIR/<file>-<n>.json, for ajv-cli to check (check-deploy.sh does). It is made
//     from @kubernetes/client-node's models of the Kubernetes 1.34 OpenAPI specification (each
//     model's attribute map: JSON names and types; its declaration file: which are required).
//     This is the pass that catches a misspelt or misplaced field.
// The kustomization is checked for what kustomize needs of it: every resource it lists exists,
// every manifest of the directory is listed, and its namespace is every resource's.
//
// Prints "SCHEMA<TAB>DOCUMENT" per document on stdout; problems on stderr; exit 1 on any.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [nodeModules, outDir, ...files] = process.argv.slice(2);
if (!nodeModules || !outDir || files.length === 0) {
  console.error('usage: node k8s.mjs NODE_MODULES OUT_DIR MANIFEST...');
  process.exit(2);
}
const require = createRequire(path.join(nodeModules, 'noop.js'));
const yaml = require('js-yaml');
const modelsDir = path.join(nodeModules, '@kubernetes/client-node/dist/gen/models');

let problems = 0;
const problem = (where, what) => {
  problems++;
  console.error(`k8s: ${where}: ${what}`);
};

// ---- 1. kubernetes-models ------------------------------------------------------------------------

function modelsClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  try {
    return require(`kubernetes-models/${group ? `${group}/` : ''}${version}`)[kind];
  } catch {
    return undefined;
  }
}

// ---- 2. the strict schema ---------------------------------------------------------------------------

// Resource quantities ("2", 1Gi or a bare number): client-node types them as strings.
const kQuantityMaps = new Set(['requests', 'limits', 'capacity', 'allocatable', 'hard', 'used',
  'overhead']);
const kQuantities = new Set(['sizeLimit']);

const models = new Map();  // class name -> {attrs, required}
async function model(name) {
  if (!models.has(name)) {
    const js = path.join(modelsDir, `${name}.js`);
    if (!fs.existsSync(js)) {
      models.set(name, null);
    } else {
      const cls = (await import(pathToFileURL(js).href))[name];
      const attrs = cls.getAttributeTypeMap();
      // The declaration file marks optional members with "?": the others are required.
      const dts = fs.readFileSync(path.join(modelsDir, `${name}.d.ts`), 'utf8');
      const required = new Set();
      for (const m of dts.matchAll(/^\s+'([^']+)'(\?)?:/gm)) {
        if (!m[2]) {
          const a = attrs.find((x) => x.name === m[1]);
          required.add(a ? a.baseName : m[1]);
        }
      }
      models.set(name, { attrs, required });
    }
  }
  return models.get(name);
}

// The JSON Schema of a client-node type name; named models go to `definitions`.
async function typeSchema(type, format, field, definitions) {
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    return { type: 'array', items: await typeSchema(m[1], '', '', definitions) };
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    const values = kQuantityMaps.has(field)
      ? { anyOf: [{ type: 'string' }, { type: 'number' }] }
      : await typeSchema(m[1], '', '', definitions);
    return { type: 'object', additionalProperties: values };
  }
  switch (type) {
    case 'string':
      return kQuantities.has(field) ? { anyOf: [{ type: 'string' }, { type: 'number' }] }
                                    : { type: 'string' };
    case 'Date':
      return { type: 'string' };
    case 'number':
      return { type: format.startsWith('int') ? 'integer' : 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'IntOrString':
      return { anyOf: [{ type: 'integer' }, { type: 'string' }] };
    case 'any':
    case 'object':
      return {};
    default:
      break;
  }
  if (!definitions[type]) {
    const mm = await model(type);
    if (!mm) {
      throw new Error(`no model ${type}`);
    }
    definitions[type] = {};  // placeholder first: models refer to themselves
    const properties = {};
    for (const a of mm.attrs) {
      properties[a.baseName] = await typeSchema(a.type, a.format || '', a.baseName, definitions);
    }
    definitions[type] = { type: 'object', properties, additionalProperties: false };
    if (mm.required.size > 0) {
      definitions[type].required = [...mm.required];
    }
  }
  return { $ref: `#/definitions/${type}` };
}

async function strictSchema(apiVersion, kind) {
  const version = apiVersion.split('/').pop();
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  const mm = await model(name);
  if (!mm || !mm.attrs.some((a) => a.baseName === 'kind')) {
    return null;
  }
  const definitions = {};
  const root = await typeSchema(name, '', '', definitions);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: `${apiVersion} ${kind}: @kubernetes/client-node ${name}, strict`,
    definitions,
    allOf: [
      root,
      {
        type: 'object',
        properties: { apiVersion: { const: apiVersion }, kind: { const: kind } },
        required: ['apiVersion', 'kind'],
      },
    ],
  };
}

// ---- the files --------------------------------------------------------------------------------------

fs.mkdirSync(outDir, { recursive: true });
const namespaced = [];  // [where, namespace] of every resource
const kustomizations = [];
for (const file of files) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, 'utf8')).filter((d) => d != null);
  } catch (e) {
    problem(file, `not YAML: ${e.message}`);
    continue;
  }
  for (const [i, doc] of docs.entries()) {
    const where = docs.length > 1 ? `${file} (document ${i + 1})` : file;
    if (typeof doc !== 'object' || !doc.apiVersion || !doc.kind) {
      problem(where, 'not a Kubernetes object (no apiVersion and kind)');
      continue;
    }
    if (doc.kind === 'Kustomization') {
      kustomizations.push([file, doc]);
      continue;
    }
    const Cls = modelsClass(doc.apiVersion, doc.kind);
    if (!Cls) {
      problem(where, `kubernetes-models has no ${doc.apiVersion} ${doc.kind}`);
    } else {
      try {
        new Cls(doc).validate();
      } catch (e) {
        problem(where, `kubernetes-models: ${e.message}`);
      }
    }
    const schema = await strictSchema(doc.apiVersion, doc.kind);
    if (!schema) {
      problem(where, `no Kubernetes 1.34 model for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    const stem = path.join(outDir, `${path.basename(file, path.extname(file))}-${i + 1}`);
    fs.writeFileSync(`${stem}.json`, JSON.stringify(doc, null, 1));
    fs.writeFileSync(`${stem}.schema.json`, JSON.stringify(schema));
    console.log(`${stem}.schema.json\t${stem}.json\t${where}`);
    if (doc.kind !== 'Namespace') {
      namespaced.push([where, doc.metadata?.namespace]);
    }
  }
}

for (const [file, k] of kustomizations) {
  const dir = path.dirname(file);
  const listed = new Set(k.resources || []);
  for (const r of listed) {
    if (!fs.existsSync(path.join(dir, r))) {
      problem(file, `resource ${r} does not exist`);
    }
  }
  for (const f of fs.readdirSync(dir)) {
    if (/\.ya?ml$/.test(f) && path.join(dir, f) !== file && !listed.has(f)) {
      problem(file, `${f} is not listed in resources`);
    }
  }
  for (const [where, ns] of namespaced) {
    if (k.namespace && ns !== k.namespace) {
      problem(where, `namespace ${ns} is not the kustomization's ${k.namespace}`);
    }
  }
}
process.exit(problems > 0 ? 1 : 0);
