package nerstage.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Consumes the NER stage's entity and redacted records with kafka-clients (read_committed) and
 * checks every offset with {@code codePoints()}, the contract's unit.
 *
 * <p>Usage: {@code Consume BOOTSTRAP ENTITIES_TOPIC REDACTED_TOPIC json|avro SCHEMAS_DIR DOCS.jsonl
 * EXPECT TIMEOUT_S}. Reads until EXPECT distinct ids arrived on both topics, then 2 s more
 * (duplicates would show), and prints a JSON summary: per-topic counts per id, spans checked,
 * problems found.
 */
public final class Consume {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One output record, whatever its format: the fields the checks need. */
  record Span(String label, int start, int end, String text) {}

  record Output(String id, String text, List<Span> spans) {}

  // snippet:offsets start
  // Offsets count Unicode code points: index text.codePoints(), never substring (UTF-16 units).
  static String spanText(String text, int start, int end) {
    int[] codePoints = text.codePoints().skip(start).limit(end - start).toArray();
    return new String(codePoints, 0, codePoints.length);
  }
  // snippet:offsets end

  static boolean keptAroundSpans(String original, String redacted, List<Span> spans) {
    int[] chars = original.codePoints().toArray();
    int at = 0;
    int cursor = 0;
    List<Span> sorted = new ArrayList<>(spans);
    sorted.sort(Comparator.comparingInt(Span::start));
    for (Span span : sorted) {
      String kept = new String(chars, cursor, Math.max(0, span.start() - cursor));
      int found = redacted.indexOf(kept, at);
      if (found < 0 || (cursor == 0 && found != 0)) {
        return false;
      }
      at = found + kept.length();
      cursor = Math.max(cursor, span.end());
    }
    return redacted.endsWith(new String(chars, cursor, chars.length - cursor));
  }

  static Output fromJson(byte[] value) throws IOException {
    JsonNode node = JSON.readTree(value); // unknown fields are ignored: new optional fields are fine
    List<Span> spans = new ArrayList<>();
    for (JsonNode e : node.get("entities")) {
      JsonNode text = e.get("text");
      spans.add(new Span(e.get("label").asText(), e.get("start").asInt(), e.get("end").asInt(),
          text == null ? null : text.asText()));
    }
    return new Output(node.get("id").asText(), node.has("source") ? null : node.get("text").asText(), spans);
  }

  // snippet:read-avro start
  // schemaless Avro written with schemas/avro/<name>.avsc: read it with that file as the writer schema
  static GenericRecord readAvro(Schema writerSchema, byte[] value) throws IOException {
    return new GenericDatumReader<GenericRecord>(writerSchema)
        .read(null, DecoderFactory.get().binaryDecoder(value, null));
  }
  // snippet:read-avro end

  @SuppressWarnings("unchecked")
  static Output fromAvro(GenericRecord rec) {
    List<Span> spans = new ArrayList<>();
    for (GenericRecord e : (List<GenericRecord>) rec.get("entities")) {
      Object text = e.getSchema().getField("text") == null ? null : e.get("text");
      spans.add(new Span(e.get("label").toString(), (Integer) e.get("start"), (Integer) e.get("end"),
          text == null ? null : text.toString()));
    }
    boolean isEntities = rec.getSchema().getField("source") != null;
    return new Output(rec.get("id").toString(), isEntities ? null : rec.get("text").toString(), spans);
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String entitiesTopic = args[1];
    String redactedTopic = args[2];
    boolean avro = args[3].equals("avro");
    Path schemas = Path.of(args[4]);
    int expect = Integer.parseInt(args[6]);
    long deadline = System.currentTimeMillis() + Long.parseLong(args[7]) * 1000;
    Map<String, String> texts = new HashMap<>();
    for (String line : Files.readAllLines(Path.of(args[5]), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        JsonNode doc = JSON.readTree(line);
        texts.put(doc.get("id").asText(), doc.get("text").asText());
      }
    }
    Map<String, Schema> writerSchemas = Map.of(
        entitiesTopic, new Schema.Parser().parse(schemas.resolve("entity_result.avsc").toFile()),
        redactedTopic, new Schema.Parser().parse(schemas.resolve("redacted_document.avsc").toFile()));

    Checks checks = new Checks(texts);

    // snippet:consume start
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // skip aborted transactions
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : List.of(entitiesTopic, redactedTopic)) {
        for (PartitionInfo p : consumer.partitionsFor(topic)) {
          partitions.add(new TopicPartition(topic, p.partition()));
        }
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long quietUntil = Long.MAX_VALUE;
      while (System.currentTimeMillis() < Math.min(deadline, quietUntil)) {
        for (ConsumerRecord<String, byte[]> msg : consumer.poll(Duration.ofMillis(200))) {
          Output out = avro ? fromAvro(readAvro(writerSchemas.get(msg.topic()), msg.value())) : fromJson(msg.value());
          checks.check(msg.topic().equals(entitiesTopic) ? "entities" : "redacted", msg.key(), out);
        }
        if (quietUntil == Long.MAX_VALUE && checks.sawAll(expect)) {
          quietUntil = System.currentTimeMillis() + 2000; // then 2 s more: duplicates would show
        }
      }
    }
    // snippet:consume end
    System.out.println(JSON.writeValueAsString(checks.summary()));
  }

  /** Counts per id and topic, and every offset checked against the original text. */
  static final class Checks {
    private final Map<String, String> texts;
    private final Map<String, Map<String, Integer>> counts = new LinkedHashMap<>();
    private final List<String> problems = new ArrayList<>();
    private int spansChecked;
    private int spansPastAstral;

    Checks(Map<String, String> texts) {
      this.texts = texts;
      counts.put("entities", new HashMap<>());
      counts.put("redacted", new HashMap<>());
    }

    boolean sawAll(int expect) {
      return counts.get("entities").size() >= expect && counts.get("redacted").size() >= expect;
    }

    void check(String role, String key, Output out) throws IOException {
      counts.get(role).merge(out.id(), 1, Integer::sum);
      String text = texts.get(out.id());
      if (text == null) {
        problems.add(role + ": unknown id " + out.id());
        return;
      }
      if (!out.id().equals(key)) {
        problems.add(role + " " + out.id() + ": key " + key + " was not kept");
      }
      if (role.equals("entities")) {
        for (Span span : out.spans()) {
          spansChecked++;
          if (!spanText(text, span.start(), span.end()).equals(span.text())) {
            problems.add("entities " + out.id() + ": [" + span.start() + ", " + span.end() + ") is not "
                + JSON.writeValueAsString(span.text()));
          }
          // a UTF-16 (substring) reading would be off here: the check above could tell
          if (span.end() > text.length() || !text.substring(span.start(), span.end()).equals(span.text())) {
            spansPastAstral++;
          }
        }
      } else if (!keptAroundSpans(text, out.text(), out.spans())) {
        problems.add("redacted " + out.id() + ": text outside the spans was not kept");
      }
    }

    Map<String, Object> summary() {
      Map<String, Object> summary = new LinkedHashMap<>(counts);
      summary.put("spans_checked", spansChecked);
      summary.put("spans_past_astral", spansPastAstral);
      summary.put("problems", problems);
      return summary;
    }
  }

  private Consume() {}
}
