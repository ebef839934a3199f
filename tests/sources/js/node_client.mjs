// Replays Segment-spec calls through a real Node SDK, flushes, and exits.
//
//   node node_client.mjs <segment|rudderstack> <base url> <write key> < calls.json
//
// calls.json is a JSON array of messages ({"type": "identify", "userId": ..., ...}) as
// written by tests/sources/scenario.py. Each is handed to the SDK's method of the same
// name, in order; then the SDK is flushed. Exit status 0 only when every batch was
// accepted; delivery errors are printed to stderr.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [client, url, writeKey] = process.argv.slice(2)
const calls = JSON.parse(readFileSync(0, 'utf8'))
const errors = []

/** Segment's @segment/analytics-node: batches to <host>/v1/batch. */
async function segment() {
  const { Analytics } = require('@segment/analytics-node')
  const analytics = new Analytics({ writeKey, host: url, maxEventsInBatch: 100, flushInterval: 60000 })
  analytics.on('error', (error) => errors.push(String(error?.reason ?? error?.code ?? error)))
  for (const { type, ...message } of calls) analytics[type](message)
  await analytics.closeAndFlush({ timeout: 30000 })
}

/** RudderStack's @rudderstack/rudder-sdk-node: batches to <dataPlaneUrl>/v1/batch. */
async function rudderstack() {
  const Analytics = require('@rudderstack/rudder-sdk-node')
  const analytics = new Analytics(writeKey, {
    dataPlaneUrl: url, flushAt: 100, flushInterval: 60000, logLevel: 'error',
    errorHandler: (error) => errors.push(String(error?.message ?? error)),
  })
  for (const { type, ...message } of calls) {
    analytics[type](message, (error) => { if (error) errors.push(String(error.message ?? error)) })
  }
  await analytics.flush()
}

const clients = { segment, rudderstack }
if (!(client in clients)) {
  console.error(`unknown client ${client}; one of ${Object.keys(clients).join(', ')}`)
  process.exit(2)
}
try {
  await clients[client]()
} catch (error) {
  errors.push(String(error?.stack ?? error))
}
if (errors.length) console.error(errors.join('\n'))
// Exit explicitly: an SDK's idle timers must not keep the test waiting.
process.exit(errors.length ? 1 : 0)
