package eventshop.anchor;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * What deploy/anchor/compare.sh drives, on a fresh broker:
 *
 * <pre>
 * Harness prepare BOOTSTRAP ORDERS [cold]
 *     create new-order-topic, new-logging-action-topic and inventory-empty-topic (6 partitions
 *     each) and write ORDERS copies of the tutorial's sample order (unique orderIds, key orderId)
 *     to new-order-topic. Unless cold, also make the broker create its own internal topics,
 *     __consumer_offsets and __transaction_state (50 partitions each), which a fresh broker
 *     creates on their first use: a cluster's one-time cost, which no app under test should pay.
 * Harness watch --bootstrap B --group G --orders N --input TOPIC [--input TOPIC ...]
 *               [--timeout SECONDS] [--log FILE] [--pid-file FILE] -- COMMAND [ARGS...]
 *     start COMMAND (the inventory under test), and report the time from its start until
 *     (1) every event the rule derives from N sample orders is on its topic, counted with
 *     read_committed, and (2) group G has committed to the end of every partition of every
 *     --input topic. Then stop COMMAND (SIGTERM, SIGKILL after 20 s), read the output topics to
 *     their ends and say whether every event came exactly once.
 * </pre>
 *
 * watch's last stdout line: {@code RESULT seconds=S first=S events=S committed=S updated=U
 * refills=R empties=E exact=true|false}: first is when the first event was read, events and
 * committed when each condition became true (all from COMMAND's start); the counts are the
 * events on the topics once COMMAND has stopped, and exact says they are what the rule wants.
 */
public final class Harness {
  static final int PARTITIONS = 6;
  static final String ORDERS = InventoryStreams.ORDERS;
  static final String LOGGING = InventoryStreams.LOGGING;
  static final String INVENTORY_EMPTY = InventoryStreams.INVENTORY_EMPTY;
  static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(10);
  static final Duration POLL = Duration.ofMillis(100);

  private Harness() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      usage();
    }
    List<String> rest = List.of(args).subList(1, args.length);
    switch (args[0]) {
      case "prepare" -> {
        if (rest.size() < 2 || rest.size() > 3 || (rest.size() == 3 && !rest.get(2).equals("cold"))) {
          usage();
        }
        prepare(rest.get(0), Integer.parseInt(rest.get(1)), rest.size() == 2);
      }
      case "watch" -> System.exit(watch(rest));
      default -> usage();
    }
  }

  static void usage() {
    System.err.println("usage: Harness prepare BOOTSTRAP ORDERS [cold]\n"
        + "       Harness watch --bootstrap B --group G --orders N --input TOPIC... "
        + "[--timeout S] [--log FILE] [--pid-file FILE] -- COMMAND [ARGS...]");
    System.exit(2);
  }

  static void log(String format, Object... args) {
    System.err.println("harness: " + String.format(Locale.ROOT, format, args));
  }

  // ------------------------------------------------------------------ the rule

  /** The events the inventory must publish for a workload. */
  record Events(long updated, long refills, long empties) {
    boolean covers(Events want) {
      return updated >= want.updated && refills >= want.refills && empties >= want.empties;
    }
  }

  /** The sample order's lines: product, quantity. */
  static final String[] PRODUCTS = {"PRODUCT-123", "PRODUCT-321"};
  static final int[] QUANTITIES = {3, 1};

  /**
   * Applies n sample orders in turn to a fresh stock, as the tutorial's rule says (109 items,
   * refilled to 109 at or below 100), and counts the events. Every order is alike, so the
   * counts do not depend on the order in which the inventory applies them.
   */
  static Events expect(int n) {
    Map<String, Integer> stock = new HashMap<>();
    long updated = 0;
    long refills = 0;
    for (int i = 0; i < n; i++) {
      for (int l = 0; l < PRODUCTS.length; l++) {
        int left = stock.getOrDefault(PRODUCTS[l], 109) - QUANTITIES[l];
        updated++;
        if (left <= 100) {
          refills++;
          left = 109;
        }
        stock.put(PRODUCTS[l], left);
      }
    }
    return new Events(updated, refills, refills);
  }

  static String sampleOrder(String orderId) {
    return "{\"orderId\":\"" + orderId + "\",\"customerId\":\"CUSTOMER-123\",\"products\":["
        + "{\"productId\":\"PRODUCT-123\",\"quantity\":3,\"totalPrice\":80},"
        + "{\"productId\":\"PRODUCT-321\",\"quantity\":1,\"totalPrice\":233}]}";
  }

  // ------------------------------------------------------------------ prepare

  static void prepare(String bootstrap, int orders, boolean warm) throws Exception {
    try (Admin admin = admin(bootstrap)) {
      List<NewTopic> topics = new ArrayList<>();
      for (String t : List.of(ORDERS, LOGGING, INVENTORY_EMPTY)) {
        topics.add(new NewTopic(t, PARTITIONS, (short) 1));
      }
      try {
        admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw e;
        }
      }
      awaitLeaders(admin, List.of(ORDERS, LOGGING, INVENTORY_EMPTY));
      if (warm) {
        warmUp(admin, bootstrap);
      }
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 10);
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, 128 * 1024);
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000);
    // One request at a time (each holds a batch for every partition): a retried batch can
    // never be overtaken by the next one.
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    AtomicReference<Exception> failed = new AtomicReference<>();
    long start = System.nanoTime();
    try (KafkaProducer<String, String> producer =
        new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
      for (int i = 0; i < orders && failed.get() == null; i++) {
        String id = String.format(Locale.ROOT, "ORDER-%06d", i);
        producer.send(new ProducerRecord<>(ORDERS, id, sampleOrder(id)), (md, e) -> {
          if (e != null) {
            failed.compareAndSet(null, e);
          }
        });
      }
      producer.flush();
    }
    if (failed.get() != null) {
      throw failed.get();
    }
    long written;
    try (Admin admin = admin(bootstrap)) {
      written = endOffsets(admin, ORDERS, PARTITIONS).values().stream().mapToLong(Long::longValue).sum();
    }
    if (written != orders) {
      throw new IllegalStateException(ORDERS + " holds " + written + " records, want " + orders);
    }
    log("wrote %d sample orders to %s in %.2f s", orders, ORDERS, (System.nanoTime() - start) / 1e9);
  }

  /**
   * Has the broker create __consumer_offsets (a throwaway group commits an offset, then is
   * deleted) and __transaction_state (a transactional producer initialises and commits an empty
   * transaction).
   */
  static void warmUp(Admin admin, String bootstrap) throws Exception {
    long start = System.nanoTime();
    String group = "anchor-warm-up";
    admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(ORDERS, 0), new OffsetAndMetadata(0)))
        .all().get(60, TimeUnit.SECONDS);
    admin.deleteConsumerGroups(List.of(group)).all().get(60, TimeUnit.SECONDS);
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "anchor-warm-up");
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 60_000);
    try (KafkaProducer<String, String> producer =
        new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.commitTransaction();
    }
    log("broker's internal topics created in %.2f s", (System.nanoTime() - start) / 1e9);
  }

  /**
   * Waits (up to 30 s) until every partition of the topics has a leader that serves it: a
   * ListOffsets on every partition succeeds. A fresh broker may name a leader a moment before
   * it accepts writes, and a first produce that fails there can leave an idempotent producer
   * retrying out-of-order sequence numbers.
   */
  static void awaitLeaders(Admin admin, List<String> topics) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      boolean all = true;
      try {
        for (String t : topics) {
          endOffsets(admin, t, partitions(admin, t));
        }
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof RetriableException)) {
          throw e;
        }
        all = false;
      }
      if (all) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("partitions of " + topics + " have no leader after 30 s");
      }
      Thread.sleep(100);
    }
  }

  // ------------------------------------------------------------------ watch

  static int watch(List<String> args) throws Exception {
    String bootstrap = null;
    String group = null;
    String logFile = null;
    String pidFile = null;
    int orders = -1;
    double timeout = 300;
    List<String> inputs = new ArrayList<>();
    List<String> command = new ArrayList<>();
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals("--")) {
        command = args.subList(i + 1, args.size());
        break;
      }
      if (i + 1 >= args.size()) {
        usage();
      }
      String v = args.get(++i);
      switch (a) {
        case "--bootstrap" -> bootstrap = v;
        case "--group" -> group = v;
        case "--orders" -> orders = Integer.parseInt(v);
        case "--input" -> inputs.add(v);
        case "--timeout" -> timeout = Double.parseDouble(v);
        case "--log" -> logFile = v;
        case "--pid-file" -> pidFile = v;
        default -> usage();
      }
    }
    if (bootstrap == null || group == null || orders < 1 || inputs.isEmpty() || command.isEmpty()) {
      usage();
    }
    Events want = expect(orders);
    log("want %s for %d orders; group %s must commit to the end of %s", want, orders, group, inputs);

    try (Admin admin = admin(bootstrap); KafkaConsumer<String, String> events = eventReader(bootstrap)) {
      // Everything the harness needs is connected before the clock starts.
      List<TopicPartition> outputs = new ArrayList<>();
      for (String t : List.of(LOGGING, INVENTORY_EMPTY)) {
        for (int p = 0; p < partitions(admin, t); p++) {
          outputs.add(new TopicPartition(t, p));
        }
      }
      events.assign(outputs);
      events.seekToBeginning(outputs);
      events.poll(Duration.ZERO);
      Tally tally = new Tally();
      Progress progress = new Progress(admin, group, inputs);
      progress.check();

      ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
      pb.redirectOutput(logFile == null ? ProcessBuilder.Redirect.DISCARD
          : ProcessBuilder.Redirect.appendTo(new File(logFile)));
      long t0 = System.nanoTime();
      Process proc = pb.start();
      Thread stopper = new Thread(() -> stop(proc), "stop-child");
      Runtime.getRuntime().addShutdownHook(stopper);
      if (pidFile != null) {
        Files.writeString(Path.of(pidFile), proc.pid() + "\n", StandardCharsets.US_ASCII);
      }
      log("started %s (pid %d)", String.join(" ", command), proc.pid());

      long firstAt = 0;
      long eventsAt = 0;
      long committedAt = 0;
      long nextReport = t0 + TimeUnit.SECONDS.toNanos(2);
      long deadline = t0 + (long) (timeout * 1e9);
      while (true) {
        if (!proc.isAlive()) {
          log("error: %s exited with code %d after %.2f s; its output: %s", command.get(0),
              proc.exitValue(), (System.nanoTime() - t0) / 1e9, logFile);
          return 1;
        }
        for (ConsumerRecord<String, String> r : events.poll(POLL)) {
          tally.count(r);
        }
        long now = System.nanoTime();
        if (firstAt == 0 && tally.any()) {
          firstAt = now;
        }
        boolean eventsDone = tally.events().covers(want);
        if (eventsDone && eventsAt == 0) {
          eventsAt = now;
        }
        boolean committed = progress.check();
        now = System.nanoTime();
        if (!committed) {
          committedAt = 0;
        } else if (committedAt == 0) {
          committedAt = now;
        }
        if (eventsDone && committed) {
          double seconds = (now - t0) / 1e9;
          log("done after %.2f s", seconds);
          stop(proc);
          Runtime.getRuntime().removeShutdownHook(stopper);
          boolean complete = drain(events, outputs, tally);
          Events got = tally.events();
          boolean exact = complete && got.equals(want);
          if (!exact) {
            log("warning: events after the stop %s, want exactly %s%s", got, want,
                complete ? "" : " (could not read the topics to their ends)");
          }
          System.out.printf(Locale.ROOT,
              "RESULT seconds=%.3f first=%.3f events=%.3f committed=%.3f updated=%d refills=%d empties=%d exact=%b%n",
              seconds, (firstAt - t0) / 1e9, (eventsAt - t0) / 1e9, (committedAt - t0) / 1e9, got.updated, got.refills,
              got.empties, exact);
          return 0;
        }
        if (now > deadline) {
          log("error: not done after %.0f s: events %s of %s; %s", timeout, tally.events(), want,
              progress.describe());
          stop(proc);
          Runtime.getRuntime().removeShutdownHook(stopper);
          return 1;
        }
        if (now > nextReport) {
          log("%.1f s: events %s; %s", (now - t0) / 1e9, tally.events(), progress.describe());
          nextReport = now + TimeUnit.SECONDS.toNanos(2);
        }
      }
    }
  }

  /** Stops the process under test: SIGTERM, and SIGKILL if it is still there 20 s later. */
  static void stop(Process proc) {
    if (!proc.isAlive()) {
      return;
    }
    proc.destroy();
    try {
      if (!proc.waitFor(20, TimeUnit.SECONDS)) {
        log("pid %d ignored SIGTERM for 20 s; killing it", proc.pid());
        proc.destroyForcibly();
        proc.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      proc.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /** Reads the output topics to their (read_committed) ends; false if that took over 60 s. */
  static boolean drain(KafkaConsumer<String, String> events, List<TopicPartition> outputs, Tally tally) {
    Map<TopicPartition, Long> ends = events.endOffsets(outputs, ADMIN_TIMEOUT);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      boolean all = true;
      for (TopicPartition tp : outputs) {
        if (events.position(tp, ADMIN_TIMEOUT) < ends.get(tp)) {
          all = false;
          break;
        }
      }
      if (all) {
        return true;
      }
      for (ConsumerRecord<String, String> r : events.poll(POLL)) {
        tally.count(r);
      }
    }
    return false;
  }

  /** Counts the inventory's events on the output topics. */
  static final class Tally {
    long updated;
    long refills;
    long empties;

    void count(ConsumerRecord<String, String> r) {
      String v = r.value();
      if (r.topic().equals(INVENTORY_EMPTY)) {
        if (v != null && v.startsWith("{\"productId\"")) {
          empties++;
        }
      } else if (InventoryStreams.ACTION_UPDATED.equals(v)) {
        updated++;
      } else if (InventoryStreams.ACTION_EMPTY.equals(v)) {
        refills++;
      }
    }

    Events events() {
      return new Events(updated, refills, empties);
    }

    boolean any() {
      return updated + refills + empties > 0;
    }
  }

  /** Whether a consumer group has committed to the end of every partition of its input topics. */
  static final class Progress {
    final Admin admin;
    final String group;
    final List<String> topics;
    final Map<String, Integer> partitions = new HashMap<>();
    long lag = -1;
    String missing = "";

    Progress(Admin admin, String group, List<String> topics) {
      this.admin = admin;
      this.group = group;
      this.topics = topics;
    }

    boolean check() throws Exception {
      for (String t : topics) {
        if (!partitions.containsKey(t)) {
          try {
            partitions.put(t, partitions(admin, t));
          } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
              missing = "topic " + t + " not created yet";
              lag = -1;
              return false;
            }
            throw e;
          }
        }
      }
      missing = "";
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      for (String t : topics) {
        for (int p = 0; p < partitions.get(t); p++) {
          latest.put(new TopicPartition(t, p), OffsetSpec.latest());
        }
      }
      Map<TopicPartition, Long> ends = new HashMap<>();
      admin.listOffsets(latest).all().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .forEach((tp, info) -> ends.put(tp, info.offset()));
      Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
          .partitionsToOffsetAndMetadata().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      long behind = 0;
      for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
        OffsetAndMetadata c = committed.get(e.getKey());
        behind += Math.max(0, e.getValue() - (c == null ? 0 : c.offset()));
      }
      lag = behind;
      return behind == 0;
    }

    String describe() {
      return missing.isEmpty() ? "group " + group + " lag " + lag + " on " + topics : missing;
    }
  }

  // ------------------------------------------------------------------ clients

  static Admin admin(String bootstrap) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    return Admin.create(p);
  }

  static KafkaConsumer<String, String> eventReader(String bootstrap) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
    return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
  }

  static int partitions(Admin admin, String topic) throws Exception {
    TopicDescription d = admin.describeTopics(Set.of(topic)).allTopicNames()
        .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(topic);
    return d.partitions().size();
  }

  static Map<TopicPartition, Long> endOffsets(Admin admin, String topic, int n) throws Exception {
    Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
    for (int p = 0; p < n; p++) {
      specs.put(new TopicPartition(topic, p), OffsetSpec.latest());
    }
    Map<TopicPartition, Long> out = new HashMap<>();
    admin.listOffsets(specs).all().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .forEach((tp, info) -> out.put(tp, info.offset()));
    return out;
  }
}
