// Every public method of the TypeScript SDK's MemoryClient (npm mem0ai), against a live
// Engram. The method list is read from the installed client's prototype, so a method this
// script does not call is reported as untested.
// Usage: node mem0ai_ts_every_method.js MEM0AI_DIR API_KEY HOST  ->  JSON on stdout:
//   {"version", "methods": [...], "results": {method: "ok" | "error ..."}}
"use strict";
const path = require("path");
const [dir, apiKey, host] = process.argv.slice(2);
const { MemoryClient } = require(path.join(dir, "node_modules", "mem0ai"));
const version = require(path.join(dir, "node_modules", "mem0ai", "package.json")).version;

const methods = Object.getOwnPropertyNames(MemoryClient.prototype)
  .filter((n) => n !== "constructor" && !n.startsWith("_"));
const client = new MemoryClient({ apiKey, host });
const U = "max", OTHER = "ann", THIRD = "bob", FOURTH = "cid";
const s = {};

function assert(ok, what) {
  if (!ok) throw new Error("assertion failed: " + JSON.stringify(what).slice(0, 800));
}

async function wait(eventId) {
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${host}/v1/event/${eventId}/`, { headers: { Authorization: `Token ${apiKey}` } });
    const event = await r.json();
    if (event.status === "SUCCEEDED" || event.status === "FAILED") {
      assert(event.status === "SUCCEEDED", event);
      return event.results;
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error("event never finished: " + eventId);
}

async function added(out) {
  return out.eventId ? wait(out.eventId) : out.results || out;
}

async function refused(call, word) {
  try { await call(); } catch (e) { assert(String(e.message).toLowerCase().includes(word), e.message); return; }
  throw new Error("expected a refusal");
}

const steps = [
  ["ping", async () => { await client.ping(); assert(client.projectId === "default", client.projectId); }],
  ["updateProject", async () => { await client.updateProject({ customInstructions: "Track running constraints." }); }],
  ["getProject", async () => {
    const got = await client.getProject({ fields: ["custom_instructions"] });
    assert(got.customInstructions === "Track running constraints.", got);
  }],
  ["add", async () => {
    const turns = ["I live in Berlin.", "I am vegetarian.", "I run every Tuesday."]  // one memory a turn
      .map((content) => ({ role: "user", content }));
    s.mine = await added(await client.add(turns, { userId: U, metadata: { source: "ts" } }));
    for (const [user, text] of [[OTHER, "I like green tea."], [THIRD, "I swim on Fridays."], [FOURTH, "I like rain."]]) {
      assert((await added(await client.add(text, { userId: user }))).length, user);
    }
    s.id = s.mine.find((r) => r.memory.includes("Berlin")).id;
    s.spare = s.mine.find((r) => r.id !== s.id).id;
  }],
  ["search", async () => {
    const found = await client.search("where does the user live", { filters: { user_id: U }, topK: 5 });
    assert(found.results.some((r) => r.memory.includes("Berlin")), found);
    assert(found.results[0].userId === U, found.results[0]);
  }],
  ["getAll", async () => {
    const listed = await client.getAll({ filters: { user_id: U }, page: 1, pageSize: 50 });
    assert(listed.count === listed.results.length && listed.count >= 2, listed);
  }],
  ["get", async () => { assert((await client.get(s.id)).memory.includes("Berlin"), s.id); }],
  ["update", async () => {
    await client.update(s.id, { text: "Max lives in Munich" });
    await client.update(s.id, { expirationDate: "2099-01-01" });
    await client.update(s.id, { timestamp: 1683504000 });
    const got = await client.get(s.id);
    assert(got.memory === "Max lives in Munich" && got.expirationDate.startsWith("2099-01-01")
      && got.createdAt.startsWith("2023-05-08"), got);
  }],
  ["history", async () => {
    const entries = await client.history(s.id);
    assert(entries[0].event === "ADD" && entries[1].event === "UPDATE" && entries[0].input.length, entries);
  }],
  ["batchUpdate", async () => {
    await client.batchUpdate([{ memoryId: s.id, text: "Max lives in Hamburg" }]);
    assert((await client.get(s.id)).memory === "Max lives in Hamburg", s.id);
  }],
  ["batchDelete", async () => {
    await client.batchDelete([s.spare]);
    await refused(() => client.get(s.spare), "not found");
  }],
  ["users", async () => {
    const page = await client.users({ page: 1, pageSize: 2 });
    assert(page.count === 4 && page.results.length === 2, page);
  }],
  ["updateProfileSettings", async () => {
    const schema = { type: "object", properties: { home: { type: "string", description: "the city where the user lives" } } };
    const out = await client.updateProfileSettings({ enabled: true, schema });
    assert(JSON.stringify(out.entities.user.schema) === JSON.stringify(schema), out);
  }],
  ["getProfileSettings", async () => { assert((await client.getProfileSettings()).enabled === true, "enabled"); }],
  ["getProfile", async () => {
    const profile = await client.getProfile({ entityId: U });
    assert(profile.status === "succeeded" && profile.profile.schema.home.some((t) => t.includes("Hamburg")), profile);
  }],
  ["generateProfile", async () => { s.job = await client.generateProfile({ entityId: U }); assert(s.job.statusUrl, s.job); }],
  ["getProfileJob", async () => { assert((await client.getProfileJob(s.job.statusUrl)).job.succeeded === 1, s.job); }],
  ["sampleProfiles", async () => { assert((await client.sampleProfiles({ limit: 2 })).entityIds.length === 2, "sample"); }],
  ["feedback", async () => { await client.feedback({ memoryId: s.id, feedback: "NEGATIVE", feedbackReason: "wrong city" }); }],
  ["createWebhook", async () => {
    s.hook = await client.createWebhook({ url: "http://127.0.0.1:9/hook", name: "h", eventTypes: ["memory_add"] });
  }],
  ["getWebhooks", async () => { assert(await client.getWebhooks(), "hooks"); }],
  ["updateWebhook", async () => { await client.updateWebhook({ webhookId: s.hook.webhookId, name: "h2", eventTypes: ["memory_add"] }); }],
  ["deleteWebhook", async () => { await client.deleteWebhook({ webhookId: s.hook.webhookId }); }],
  ["createMemoryExport", async () => {
    s.export = await client.createMemoryExport({ schema: { type: "object" }, filters: { user_id: U } });
  }],
  ["getMemoryExport", async () => { assert(await client.getMemoryExport({ filters: { user_id: U } }), "export"); }],
  ["delete", async () => {
    await client.delete(s.id);
    await refused(() => client.get(s.id), "not found");
  }],
  ["deleteAll", async () => {
    const out = await client.deleteAll({ userId: OTHER });
    assert(out.deleted === 1, out);
  }],
  ["deleteUser", async () => {
    await client.deleteUser({ entity_type: "user", entity_id: THIRD });
    assert(!(await client.users()).results.some((e) => e.name === THIRD), THIRD);
  }],
  ["deleteUsers", async () => {
    await client.deleteUsers({ userId: FOURTH });
    await client.deleteUsers();
    assert((await client.users()).results.length === 0, "users left");
  }],
];

(async () => {
  const results = {};
  for (const [name, step] of steps) {
    try { await step(); results[name] = "ok"; } catch (e) { results[name] = "error: " + (e.stack || e).toString().slice(0, 1500); }
  }
  process.stdout.write(JSON.stringify({ version, methods, results }) + "\n");
  process.exit(0);
})();
