// Produces input documents for the NER stage with kafkajs, in json or schemaless avro (avsc).
// Usage: node produce.js --bootstrap HOST:PORT --topic T --format json|avro --schemas DIR --docs FILE.jsonl
// FILE.jsonl: one {"id", "text"} per line. Prints {"produced": N} on stdout.
'use strict'

const fs = require('fs')
const path = require('path')
const readline = require('readline')
const { Kafka, Partitioners, logLevel } = require('kafkajs')
const parseArgs = require('./args')

// snippet:avro-document start
const avro = require('avsc')

// a .avsc file is JSON, not a module: read it, then build the type from it
function documentType (schemasDir) {
  const schema = JSON.parse(fs.readFileSync(path.join(schemasDir, 'document.avsc'), 'utf8'))
  return avro.Type.forSchema(schema)
}

// schemaless Avro: the binary encoding of one datum, no container header, no framing
function encodeAvro (type, doc) {
  return type.toBuffer({ id: doc.id, text: doc.text, metadata: doc.metadata || null, language: doc.language || null })
}
// snippet:avro-document end

// snippet:json-document start
function encodeJson (doc) {
  return Buffer.from(JSON.stringify({ id: doc.id, text: doc.text }), 'utf8')
}
// snippet:json-document end

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const docs = []
  for await (const line of readline.createInterface({ input: fs.createReadStream(args.docs) })) {
    if (line.trim()) docs.push(JSON.parse(line))
  }
  const type = args.format === 'avro' ? documentType(args.schemas) : null
  const kafka = new Kafka({ clientId: 'interop-node-producer', brokers: [args.bootstrap], logLevel: logLevel.WARN })
  // snippet:produce start
  // the Java-compatible murmur2 partitioner: a key goes to the partition other clients pick
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  await producer.send({
    topic: args.topic,
    acks: -1,
    messages: docs.map((doc) => ({
      key: doc.id, // the stage copies key and headers to every output record
      value: type ? encodeAvro(type, doc) : encodeJson(doc),
      headers: { 'produced-by': 'kafkajs' }
    }))
  })
  await producer.disconnect()
  // snippet:produce end
  process.stdout.write(JSON.stringify({ produced: docs.length }) + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
