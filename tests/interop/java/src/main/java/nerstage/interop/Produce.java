package nerstage.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Produces input documents for the NER stage with kafka-clients, in json or schemaless Avro.
 *
 * <p>Usage: {@code Produce BOOTSTRAP TOPIC json|avro SCHEMAS_DIR DOCS.jsonl} (one {"id", "text"} per
 * line); prints {"produced": N}.
 */
public final class Produce {
  private static final ObjectMapper JSON = new ObjectMapper();

  // snippet:avro-document start
  // schemaless Avro: the binary encoding of one datum, no container header, no framing
  static byte[] encodeAvro(Schema schema, String id, String text) throws IOException {
    GenericRecord doc = new GenericData.Record(schema);
    doc.put("id", id);
    doc.put("text", text);
    doc.put("metadata", Map.of("produced-by", "kafka-clients"));
    doc.put("language", null);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(schema).write(doc, encoder);
    encoder.flush();
    return out.toByteArray();
  }
  // snippet:avro-document end

  static byte[] encodeJson(String id, String text) throws IOException {
    return JSON.writeValueAsBytes(Map.of("id", id, "text", text));
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    boolean avro = args[2].equals("avro");
    // snippet:schema start
    Schema schema = new Schema.Parser().parse(Path.of(args[3], "document.avsc").toFile());
    // snippet:schema end
    List<JsonNode> docs = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[4]), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        docs.add(JSON.readTree(line));
      }
    }
    // snippet:produce start
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (JsonNode doc : docs) {
        String id = doc.get("id").asText();
        String text = doc.get("text").asText();
        byte[] value = avro ? encodeAvro(schema, id, text) : encodeJson(id, text);
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, id, value);
        record.headers().add("produced-by", "kafka-clients".getBytes(StandardCharsets.UTF_8));
        producer.send(record);
      }
      producer.flush();
    }
    // snippet:produce end
    System.out.println(JSON.writeValueAsString(Map.of("produced", docs.size())));
  }

  private Produce() {}
}
