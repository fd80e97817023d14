package eventshop.anchor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * inventory-service's rule as a Kafka Streams application, exactly once (exactly_once_v2).
 *
 * <pre>
 * new-order-topic (key orderId)
 *   | flatMap: one reservation per order line, re-keyed by productId
 *   v
 * APP-reservations-repartition (key productId, value quantity)
 *   | apply: the tutorial's rule on a persistent store of each product's stock
 *   |        (APP-stock-changelog)
 *   v
 * new-logging-action-topic (key inventory-service), inventory-empty-topic (key productId)
 * </pre>
 *
 * The store keeps Kafka Streams' record cache, as DSL stores do by default. A product's stock
 * starts at 109; each line subtracts its quantity and logs inventory-updated;
 * at or below 100 the product is announced empty (a record on inventory-empty-topic and an
 * inventory-empty action) and refilled to 109. Bodies are the tutorial's JSON, byte for byte.
 *
 * <p>Usage: {@code InventoryStreams BOOTSTRAP APPLICATION_ID STATE_DIR}; {@code STREAMS_THREADS}
 * sets num.stream.threads (default 1). Every other setting is Kafka Streams' default, so the
 * commit interval is exactly_once_v2's 100 ms.
 */
public final class InventoryStreams {
  static final String ORDERS = "new-order-topic";
  static final String INVENTORY_EMPTY = "inventory-empty-topic";
  static final String LOGGING = "new-logging-action-topic";
  static final String SERVICE = "inventory-service";
  static final String STORE = "stock";

  static final int INITIAL_STOCK = 109;
  static final int REFILL_THRESHOLD = 100;
  static final int REFILL_LEVEL = 109;

  static final String ACTION_UPDATED =
      "{\"serviceName\":\"inventory-service\",\"action\":\"inventory-updated\"}";
  static final String ACTION_EMPTY =
      "{\"serviceName\":\"inventory-service\",\"action\":\"inventory-empty\"}";

  private static final ObjectMapper JSON = new ObjectMapper();

  private InventoryStreams() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: InventoryStreams BOOTSTRAP APPLICATION_ID STATE_DIR");
      System.exit(2);
    }
    Path stateDir = Path.of(args[2]);
    Files.createDirectories(stateDir);

    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    String threads = System.getenv("STREAMS_THREADS");
    if (threads != null && !threads.isBlank()) {
      props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(threads.trim()));
    }
    // There is no global state; this only answers Kafka 4.x's warning about the 5.0 default.
    props.put("processing.exception.handler.global.enabled", true);

    Topology topology = topology();
    KafkaStreams streams = new KafkaStreams(topology, props);
    CountDownLatch stopped = new CountDownLatch(1);
    int[] exitCode = {0};
    streams.setUncaughtExceptionHandler(e -> {
      log("stream thread failed: " + e);
      exitCode[0] = 1;
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.setStateListener((now, before) -> {
      log(before + " -> " + now);
      if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
        stopped.countDown();
      }
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(15));
      stopped.countDown();
    }, "shutdown"));

    log(topology.describe().toString());
    streams.start();
    stopped.await();
    streams.close(Duration.ofSeconds(15));
    System.exit(exitCode[0]);
  }

  /** The application's topology: split orders into reservations, apply them to the stock. */
  static Topology topology() {
    StreamsBuilder builder = new StreamsBuilder();
    // With its record cache, as every store of Kafka Streams' DSL has by default: writes to the
    // store and its changelog are folded per key until the next commit.
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.Integer()).withCachingEnabled());
    builder.stream(ORDERS, Consumed.with(Serdes.String(), Serdes.String()))
        .flatMap((orderId, body) -> reservations(body), Named.as("split"))
        .repartition(Repartitioned.with(Serdes.String(), Serdes.Integer())
            .withName("reservations")
            .withNumberOfPartitions(6))
        .process(Apply::new, Named.as("apply"), STORE)
        .to((key, value, context) -> value.startsWith("{\"productId\"") ? INVENTORY_EMPTY : LOGGING,
            Produced.with(Serdes.String(), Serdes.String()));
    return builder.build();
  }

  /**
   * One (productId, quantity) per line of an order. An order that is not JSON, and a line
   * without a product or a positive whole quantity, make no reservation.
   */
  static List<KeyValue<String, Integer>> reservations(String body) {
    List<KeyValue<String, Integer>> out = new ArrayList<>(2);
    if (body == null) {
      return out;
    }
    JsonNode products;
    try {
      products = JSON.readTree(body).path("products");
    } catch (Exception e) {
      log("order is not JSON, skipped: " + e.getMessage());
      return out;
    }
    for (JsonNode line : products) {
      JsonNode product = line.path("productId");
      JsonNode quantity = line.path("quantity");
      if (product.isTextual() && !product.asText().isBlank()
          && quantity.canConvertToInt() && quantity.isIntegralNumber() && quantity.asInt() > 0) {
        out.add(KeyValue.pair(product.asText(), quantity.asInt()));
      }
    }
    return out;
  }

  /** Applies reservations to the stock of the products of its partition. */
  static final class Apply implements Processor<String, Integer, String, String> {
    private ProcessorContext<String, String> context;
    private KeyValueStore<String, Integer> stock;

    @Override
    public void init(ProcessorContext<String, String> context) {
      this.context = context;
      this.stock = context.getStateStore(STORE);
    }

    @Override
    public void process(Record<String, Integer> reservation) {
      String product = reservation.key();
      Integer current = stock.get(product);
      int left = (current == null ? INITIAL_STOCK : current) - reservation.value();
      context.forward(reservation.withKey(SERVICE).withValue(ACTION_UPDATED));
      if (left <= REFILL_THRESHOLD) {
        context.forward(reservation.withKey(product).withValue(inventoryEmpty(product)));
        context.forward(reservation.withKey(SERVICE).withValue(ACTION_EMPTY));
        left = REFILL_LEVEL;
      }
      stock.put(product, left);
    }
  }

  static void log(String message) {
    System.err.println(LocalTime.now() + " InventoryStreams: " + message);
  }

  /** The body of an inventory-empty event: {"productId":...}. */
  static String inventoryEmpty(String product) {
    try {
      return "{\"productId\":" + JSON.writeValueAsString(product) + "}";
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
