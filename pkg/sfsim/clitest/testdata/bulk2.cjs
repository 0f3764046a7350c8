// Drives jsforce's Bulk API 2.0 client (conn.bulk2) against the emulator:
// SFSIM_URL and SFSIM_TOKEN from the environment (the token never on a
// command line). Prints one JSON object of what each call returned; the Go
// test checks it against the store.
'use strict';
const jsforce = require('jsforce');

// rows reads a bulk2 query's record stream to the end.
function rows(stream) {
  return new Promise((resolve, reject) => {
    const out = [];
    stream.on('record', (r) => out.push(r));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

async function main() {
  const conn = new jsforce.Connection({
    instanceUrl: process.env.SFSIM_URL,
    accessToken: process.env.SFSIM_TOKEN,
    version: '60.0',
  });
  conn.bulk2.pollInterval = 200;
  conn.bulk2.pollTimeout = 60000;
  const out = {};

  // Upsert by external ID, records given as objects (jsforce writes the
  // CSV): an update of a seeded contact, creates with a quote, a comma and
  // non-Latin letters, a refused email, the same key twice in the job, and
  // an email another contact holds (the duplicate rule). jsforce takes
  // the CSV header from the first record, so that one names every column;
  // its empty Email leaves the stored one unchanged.
  const upsert = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'upsert',
    externalIdFieldName: 'External_Contact_ID__c',
    input: [
      { External_Contact_ID__c: 'JB-1', LastName: 'Updated', Title: 'Lead', Email: '' },
      { External_Contact_ID__c: 'JB-2', LastName: 'O"Brien, Jr', Title: 'Ünïcode 日本' },
      { External_Contact_ID__c: 'JB-3', LastName: 'Plain', Title: '' },
      { External_Contact_ID__c: 'JB-4', LastName: 'Bad', Title: 'x', Email: 'not an email' },
      { External_Contact_ID__c: 'JB-5', LastName: 'Twice', Title: 'a' },
      { External_Contact_ID__c: 'JB-5', LastName: 'Twice', Title: 'b' },
      { External_Contact_ID__c: 'JB-6', LastName: 'Dup', Title: 'y', Email: 'taken@example.com' },
    ],
  });
  out.upsert = {
    successful: upsert.successfulResults.map((r) => ({ ext: r.External_Contact_ID__c, id: r.sf__Id, created: r.sf__Created })),
    failed: upsert.failedResults.map((r) => ({ ext: r.External_Contact_ID__c, error: r.sf__Error })),
    unprocessed: upsert.unprocessedRecords.length,
  };

  // Insert from a CSV string, then delete what it created by Id.
  const insert = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'insert',
    input: 'LastName,External_Contact_ID__c\nInserted,JB-7\nInserted,JB-8\n',
  });
  out.inserted = insert.successfulResults.map((r) => r.sf__Id);
  const del = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'delete',
    input: out.inserted.slice(0, 1).map((id) => ({ Id: id })),
  });
  out.deleted = del.successfulResults.map((r) => r.sf__Id);

  // A job aborted after its upload: nothing of it is written.
  const job = conn.bulk2.createJob({ object: 'Contact', operation: 'insert' });
  await job.open();
  await job.uploadData([{ LastName: 'Aborted', External_Contact_ID__c: 'JB-9' }]);
  await job.abort();
  out.aborted = (await job.check()).state;

  // A query job read back through jsforce's CSV record stream.
  const q = await conn.bulk2.query(
    "SELECT External_Contact_ID__c, LastName, Title FROM Contact WHERE External_Contact_ID__c LIKE 'JB-%' ORDER BY External_Contact_ID__c");
  out.query = (await rows(q)).map((r) => [r.External_Contact_ID__c, r.LastName, r.Title]);
  const paged = await conn.bulk2.query("SELECT Id FROM Contact WHERE LastName = 'Paged'");
  out.paged = (await rows(paged)).length;

  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exit(1);
});
