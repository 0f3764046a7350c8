// Drives jsforce against the emulator: SFSIM_URL and SFSIM_TOKEN from the
// environment (the token never on a command line). Prints one JSON object
// of what each call returned; the Go test checks it against the store.
'use strict';
const jsforce = require('jsforce');

async function main() {
  const conn = new jsforce.Connection({
    instanceUrl: process.env.SFSIM_URL,
    accessToken: process.env.SFSIM_TOKEN,
    version: '60.0',
  });
  const out = {};
  const contact = conn.sobject('Contact');

  const created = await contact.create({ LastName: 'Jsforce', Email: 'js1@example.com', External_Contact_ID__c: 'JSF-1' });
  out.createdId = created.id;
  await contact.update({ Id: created.id, Title: 'Engineer' });
  const got = await contact.retrieve(created.id);
  out.retrievedTitle = got.Title;

  const up1 = await contact.upsert({ LastName: 'Jsforce', External_Contact_ID__c: 'JSF-2' }, 'External_Contact_ID__c');
  const up2 = await contact.upsert({ LastName: 'Jsforce', Department: 'Ops', External_Contact_ID__c: 'JSF-2' }, 'External_Contact_ID__c');
  out.upsert = [up1.created, up2.created];

  const many = await contact.create([
    { LastName: 'Jsforce', External_Contact_ID__c: 'JSF-3' },
    { LastName: 'Jsforce', Email: 'not an email', External_Contact_ID__c: 'JSF-4' },
  ], { allOrNone: false });
  out.collection = many.map((r) => (r.success ? 'ok' : r.errors[0].statusCode));

  const q = await conn.query("SELECT External_Contact_ID__c, Title FROM Contact WHERE LastName = 'Jsforce' ORDER BY External_Contact_ID__c");
  out.query = { totalSize: q.totalSize, ext: q.records.map((r) => r.External_Contact_ID__c), url: q.records[0].attributes.url };

  // Paging: 2,500 seeded rows arrive over two pages.
  const paged = await conn.query("SELECT Id FROM Contact WHERE LastName = 'Paged'").run({ autoFetch: true, maxFetch: 10000 });
  out.paged = paged.records.length;

  const grouped = await conn.query('SELECT Kind__c, Status__c, COUNT(Id) n FROM Contact_Sync_Exception__c GROUP BY Kind__c, Status__c');
  out.grouped = grouped.records.map((r) => `${r.Kind__c}/${r.Status__c}=${r.n}`).sort();

  const global = await conn.describeGlobal();
  out.sobjects = global.sobjects.map((s) => s.name);
  const desc = await contact.describe();
  out.extField = desc.fields.filter((f) => f.externalId).map((f) => f.name);
  const limits = await conn.limits();
  out.dailyMax = limits.DailyApiRequests.Max;
  const userinfo = await conn.request('/services/oauth2/userinfo');
  out.username = userinfo.preferred_username;

  await contact.destroy(created.id);
  out.destroyed = created.id;
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exit(1);
});
