// The browser libraries under test, bundled by esbuild into one script for the test page
// (tests/sources/conftest.py builds it). Each replay function loads its library with
// settings given inline — nothing is fetched from a CDN — replays Segment-spec calls
// (tests/sources/scenario.py) through the library's own API, and resolves once the
// library reports them handed to the network.
import { AnalyticsBrowser } from '@segment/analytics-next'
import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'

/** What a browser page calls: identify(userId?, traits), alias(to, from), ... */
function replayOn(analytics, call) {
  switch (call.type) {
    case 'identify':
      return call.userId ? analytics.identify(call.userId, call.traits) : analytics.identify(call.traits)
    case 'track':
      return analytics.track(call.event, call.properties)
    case 'page':
      return analytics.page(call.name, call.properties)
    case 'screen':
      return analytics.screen(call.name, call.properties)
    case 'group':
      return analytics.group(call.groupId, call.traits)
    case 'alias':
      return analytics.alias(call.userId, call.previousId)
    default:
      throw new Error(`no browser call for ${call.type}`)
  }
}

/**
 * Segment's analytics-next ("analytics.js 2.0"), as a site bundles it from npm.
 * apiHost is host:port/path without scheme (analytics-next prefixes `protocol://` and
 * appends `/t`, `/i`, ... or `/b` when batching).
 */
async function replaySegment(calls, { writeKey, apiHost, batching, withApiKey = true }) {
  // cdnSettings: what Segment's CDN would serve for the write key, given inline. The
  // destination's options are the documented load options, merged over it. The write
  // key the library sends is the destination's apiKey (withApiKey: false leaves it out).
  const destination = withApiKey ? { apiKey: writeKey } : {}
  const cdnSettings = { integrations: { 'Segment.io': destination }, metrics: { sampleRate: 0 } }
  const segmentio = {
    apiHost,
    protocol: 'http',
    ...(batching ? { deliveryStrategy: { strategy: 'batching', config: { size: 100, timeout: 300 } } } : {}),
  }
  const [analytics] = await AnalyticsBrowser.load(
    { writeKey, cdnSettings }, { integrations: { 'Segment.io': segmentio } })
  analytics.setAnonymousId(calls.find((call) => call.anonymousId)?.anonymousId)
  // One call at a time, as a visitor's clicks come: analytics-next sends each event in
  // its own request as soon as it is called, so calls fired in the same instant race
  // each other on the network and may arrive out of order (docs/sources.md). A call's
  // promise resolves once its request was answered (or, when batching, queued).
  const contexts = []
  for (const call of calls) {
    // analytics-next stamps the identified user's id on every event, alias included
    // (EventFactory.addIdentity), so alias(to, from) after identify would go out as
    // userId == previousId == the old id. A page renaming its user must first forget
    // the old id (docs/sources.md); the anonymous id stays.
    if (call.type === 'alias') analytics.user().id(null)
    contexts.push(await replayOn(analytics, call))
  }
  const failed = contexts.filter((ctx) => ctx.failedDelivery())
  return { sent: contexts.length, failed: failed.map((ctx) => String(ctx.failedDelivery().reason)) }
}

/**
 * RudderStack's JS SDK (v3, the "bundled" build: plugins inside, no CDN). The source
 * configuration that would come from RudderStack's control plane is given inline.
 * transport 'beacon' → navigator.sendBeacon (text/plain) to /beacon/v1/batch?writeKey=…;
 * 'xhr' → XHR batches (application/json, Basic auth) to /v1/batch. Without batching
 * the XHR transport sends one request per event to /v1/<type>, several at once, so
 * events fired together may arrive out of order (docs/sources.md).
 */
function replayRudderstack(calls, { writeKey, dataPlaneUrl, transport }) {
  const beacon = transport === 'beacon'
  const rudderanalytics = new RudderAnalytics()
  const source = { id: 'sailbridge-test', name: 'sailbridge test', workspaceId: 'local', enabled: true, config: {}, destinations: [] }
  return new Promise((resolve, reject) => {
    rudderanalytics.load(writeKey, dataPlaneUrl, {
      getSourceConfig: () => ({ source }),
      plugins: [beacon ? 'BeaconQueue' : 'XhrQueue'],
      useBeacon: beacon,
      beaconQueueOptions: { maxItems: 100, flushQueueInterval: 300 },
      queueOptions: { batch: { enabled: true, maxItems: 100, flushInterval: 300 } },
      polyfillIfRequired: false,
      logLevel: 'ERROR',
      onLoaded: (analytics) => {
        try {
          analytics.setAnonymousId(calls.find((call) => call.anonymousId)?.anonymousId)
          for (const call of calls) replayOn(analytics, call)
          resolve({ sent: calls.length, failed: [] })
        } catch (error) {
          reject(error)
        }
      },
    })
  })
}

window.sailbridgeClients = { replaySegment, replayRudderstack }
