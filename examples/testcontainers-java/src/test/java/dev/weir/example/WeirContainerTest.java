package dev.weir.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * weir in a Java test suite: Testcontainers' GenericContainer with host
 * networking (the ports are picked here and handed to weir through WEIR_*
 * variables), the Apache Kafka client, and Kafka Connect's REST API. On a
 * normal Docker host drop withNetworkMode and use mapped ports with
 * WEIR_ADVERTISED_KAFKA_ADDR; the Go module (test/testcontainers) shows how.
 */
class WeirContainerTest {
  static final HttpClient HTTP = HttpClient.newHttpClient();
  static int kafkaPort;
  static int httpPort;
  static GenericContainer<?> weir;

  static String bootstrap() {
    return "127.0.0.1:" + kafkaPort;
  }

  static String connectUrl() {
    return "http://127.0.0.1:" + httpPort;
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** Ready when GET /health is 200 (not a log line). */
  static class HealthWait extends AbstractWaitStrategy {
    @Override
    protected void waitUntilReady() {
      Instant deadline = Instant.now().plus(startupTimeout);
      while (Instant.now().isBefore(deadline)) {
        try {
          HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(connectUrl() + "/health")).timeout(Duration.ofSeconds(1)).build(),
              HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200) {
            return;
          }
        } catch (IOException e) {
          // not listening yet
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
      throw new IllegalStateException("weir /health did not answer 200 within " + startupTimeout);
    }
  }

  @BeforeAll
  static void start() throws IOException {
    for (String env : List.of("TESTCONTAINERS_HOST_OVERRIDE", "TESTCONTAINERS_RYUK_DISABLED")) {
      if (System.getenv(env) == null) {
        throw new IllegalStateException(env + " is not set (make test-image sets TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 and TESTCONTAINERS_RYUK_DISABLED=true)");
      }
    }
    kafkaPort = freePort();
    httpPort = freePort();
    String image = System.getenv().getOrDefault("WEIR_IMAGE", "weir:latest");
    weir = new GenericContainer<>(DockerImageName.parse(image))
        .withNetworkMode("host")
        .withEnv("WEIR_KAFKA_ADDR", bootstrap())
        .withEnv("WEIR_ADVERTISED_KAFKA_ADDR", bootstrap())
        .withEnv("WEIR_HTTP_ADDR", "127.0.0.1:" + httpPort)
        .waitingFor(new HealthWait().withStartupTimeout(Duration.ofSeconds(60)));
    weir.start();
  }

  @AfterAll
  static void stop() {
    if (weir != null) {
      weir.stop(); // Ryuk is off here: the suite removes its own container
    }
  }

  @Test
  void produceConsumeInAGroupAndUseConnect() throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < 3; i++) {
        producer.send(new ProducerRecord<>("orders", "o-" + i, "{\"id\":" + i + "}")).get();
      }
    }
    Set<String> keys = new HashSet<>(consume("orders", "java-billing", 3));
    assertEquals(Set.of("o-0", "o-1", "o-2"), keys);

    HttpResponse<String> root = HTTP.send(HttpRequest.newBuilder(URI.create(connectUrl() + "/")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, root.statusCode());
    assertTrue(root.body().contains("version"), root.body());

    String body = "{\"name\":\"gen\",\"config\":{\"connector.class\":\"datagen\",\"kafka.topic\":\"generated\",\"quickstart\":\"orders\",\"max.records\":\"5\",\"tasks.max\":\"1\"}}";
    HttpResponse<String> created = HTTP.send(HttpRequest.newBuilder(URI.create(connectUrl() + "/connectors"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(201, created.statusCode(), created.body());
    assertTrue(consume("generated", "java-generated", 5).size() >= 5);

    HttpResponse<String> status = HTTP.send(HttpRequest.newBuilder(URI.create(connectUrl() + "/connectors/gen/status")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, status.statusCode());
    assertTrue(status.body().contains("\"state\":\"RUNNING\""), status.body());
  }

  static List<String> consume(String topic, String group, int n) {
    Properties c = new Properties();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
    c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    List<String> keys = new java.util.ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(topic));
      Instant deadline = Instant.now().plusSeconds(30);
      while (keys.size() < n && Instant.now().isBefore(deadline)) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          keys.add(r.key());
        }
      }
      consumer.commitSync(Map.of());
    }
    assertTrue(keys.size() >= n, topic + ": " + keys.size() + " of " + n + " records");
    return keys;
  }
}
