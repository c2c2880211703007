// Consumes the NER stage's entity and redacted records with kafkajs and checks every offset
// with Array.from(text) (code points), the contract's unit.
// Usage: node consume.js --bootstrap HOST:PORT --entities T --redacted T --format json|avro --schemas DIR
//                        --docs FILE.jsonl --expect N --timeout SECONDS
// Reads until N distinct ids arrived on both topics, then 2 s more (duplicates would show),
// and prints a JSON summary on stdout: per-topic counts per id, spans checked, problems found.
'use strict'

const fs = require('fs')
const path = require('path')
const { Kafka, logLevel } = require('kafkajs')
const parseArgs = require('./args')

// snippet:codecs start
// kafkajs reads gzip (and uncompressed) batches by itself; other codecs need a package registered
// before the consumer starts: snappy with kafkajs-snappy, lz4 with kafkajs-lz4 (native build).
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
// snippet:codecs end

const avro = require('avsc')

function outputTypes (schemasDir) {
  const read = (name) => avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(schemasDir, name), 'utf8')))
  return { entities: read('entity_result.avsc'), redacted: read('redacted_document.avsc') }
}

// snippet:offsets start
// Offsets count Unicode code points: index Array.from(text), never text.slice (UTF-16 units).
function spanText (text, entity) {
  return Array.from(text).slice(entity.start, entity.end).join('')
}

// The redacted text keeps everything outside the spans: check it around each span, in order.
function keptAroundSpans (original, redacted, spans) {
  const chars = Array.from(original)
  let at = 0
  let cursor = 0
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    const kept = chars.slice(cursor, span.start).join('')
    const found = redacted.indexOf(kept, at)
    if (found < 0 || (cursor === 0 && found !== 0)) return false
    at = found + kept.length
    cursor = Math.max(cursor, span.end)
  }
  return redacted.endsWith(chars.slice(cursor).join(''))
}
// snippet:offsets end

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const texts = new Map()
  for (const line of fs.readFileSync(args.docs, 'utf8').split('\n')) {
    if (line.trim()) {
      const doc = JSON.parse(line)
      texts.set(doc.id, doc.text)
    }
  }
  const types = args.format === 'avro' ? outputTypes(args.schemas) : null
  const topicRole = { [args.entities]: 'entities', [args.redacted]: 'redacted' }
  const summary = { entities: {}, redacted: {}, spans_checked: 0, spans_past_astral: 0, problems: [] }
  const expect = Number(args.expect)
  const seen = { entities: new Set(), redacted: new Set() }

  const kafka = new Kafka({ clientId: 'interop-node-consumer', brokers: [args.bootstrap], logLevel: logLevel.WARN })
  // snippet:consume start
  const consumer = kafka.consumer({
    groupId: `interop-node-${process.pid}-${Date.now()}`,
    readUncommitted: false, // read_committed: skip aborted transactions (exactly-once outputs)
    sessionTimeout: 6000,
    heartbeatInterval: 1000
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [args.entities, args.redacted], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const role = topicRole[topic]
      // json: UTF-8 JSON; avro: schemaless Avro written with schemas/avro/*.avsc as the writer schema
      const record = types ? types[role].fromBuffer(message.value) : JSON.parse(message.value.toString('utf8'))
      check(role, record, message.key && message.key.toString('utf8'))
    }
  })
  // snippet:consume end

  function check (role, record, key) {
    summary[role][record.id] = (summary[role][record.id] || 0) + 1
    seen[role].add(record.id)
    const text = texts.get(record.id)
    if (text === undefined) return summary.problems.push(`${role}: unknown id ${record.id}`)
    if (key !== record.id) summary.problems.push(`${role} ${record.id}: key ${key} was not kept`)
    if (role === 'entities') {
      for (const entity of record.entities) {
        summary.spans_checked += 1
        if (spanText(text, entity) !== entity.text) {
          summary.problems.push(`entities ${record.id}: [${entity.start}, ${entity.end}) is not ${JSON.stringify(entity.text)}`)
        }
        // a UTF-16 (text.slice) reading would be off here: the check above could tell
        if (text.slice(entity.start, entity.end) !== entity.text) summary.spans_past_astral += 1
      }
    } else if (!keptAroundSpans(text, record.text, record.entities)) {
      summary.problems.push(`redacted ${record.id}: text outside the spans was not kept`)
    }
  }

  const deadline = Date.now() + Number(args.timeout) * 1000
  while (Date.now() < deadline && (seen.entities.size < expect || seen.redacted.size < expect)) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await new Promise((resolve) => setTimeout(resolve, 2000))
  await consumer.disconnect()
  process.stdout.write(JSON.stringify(summary) + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
