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
 * Harness prepare BOOTSTRAP ORDERS WORKLOAD [cold]
 *     create new-order-topic, new-logging-action-topic and inventory-empty-topic (6 partitions
 *     each) and write the first ORDERS orders of WORKLOAD (see Workload; unique orderIds, key
 *     and correlation-id header orderId) to new-order-topic; ORDERS may be 0. Unless cold, also
 *     make the broker create its own internal topics, __consumer_offsets and
 *     __transaction_state (50 partitions each), which a fresh broker creates on their first use:
 *     a cluster's one-time cost, which no app under test should pay.
 * Harness watch --bootstrap B --group G --workload W --orders N [--rate R] --input TOPIC
 *               [--input TOPIC ...] [--timeout SECONDS] [--log FILE] [--pid-file FILE]
 *               -- COMMAND [ARGS...]
 *     start COMMAND (the inventory under test), and report the time from its start until
 *     (1) every event the rule derives from the orders is on its topic, counted with
 *     read_committed, and (2) group G has committed every record of every --input topic.
 *     Without --rate, the orders are the N that prepare wrote, waiting when COMMAND starts (a
 *     backlog). With --rate R, prepare wrote none: watch writes WARM_UP orders once COMMAND
 *     has started and waits for their events, then writes N more at R a second, and measures
 *     for each how long its events take to be read. Then stop COMMAND (SIGTERM, SIGKILL after
 *     20 s), read the output topics to their ends and say whether every event came exactly once.
 * </pre>
 *
 * watch's last stdout line: {@code RESULT seconds=S first=S events=S committed=S updated=U
 * refills=R empties=E exact=true|false} and, with --rate, {@code empty_p50=MS empty_p99=MS
 * updated_p50=MS updated_p99=MS}: first is when the first event was read, events and committed
 * when each condition became true (all from COMMAND's start); the counts are the events on the
 * topics once COMMAND has stopped, and exact says they are what the rule wants. The latencies
 * run from sending an order to reading its refill notices (empty) and the last of its
 * inventory-updated actions (updated).
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
        if (rest.size() < 3 || rest.size() > 4 || (rest.size() == 4 && !rest.get(3).equals("cold"))) {
          usage();
        }
        prepare(rest.get(0), Integer.parseInt(rest.get(1)), Workload.of(rest.get(2)), rest.size() == 3);
      }
      case "watch" -> System.exit(watch(rest));
      default -> usage();
    }
  }

  static void usage() {
    System.err.println("usage: Harness prepare BOOTSTRAP ORDERS WORKLOAD [cold]\n"
        + "       Harness watch --bootstrap B --group G --workload W --orders N [--rate R] --input TOPIC... "
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

  static final int INITIAL = InventoryStreams.INITIAL_STOCK;

  /**
   * The orders an app is given. {@code sample}: the tutorial's sample order, PRODUCT-123 x3 and
   * PRODUCT-321 x1, again and again. {@code catalog}: 1,000 products, PRODUCT-0000 to
   * PRODUCT-0999, and orders of one to three of them, drawn at random (the same for every run);
   * product k is always ordered 1 + k % 3 items. Every product's lines take the same quantity,
   * so the events the rule derives do not depend on the order the lines are applied in.
   */
  record Workload(String name) {
    static Workload of(String name) {
      if (!name.equals("sample") && !name.equals("catalog")) {
        throw new IllegalArgumentException("workload " + name + ": want sample or catalog");
      }
      return new Workload(name);
    }

    /** The lines of order i: product, quantity. */
    List<Map.Entry<String, Integer>> lines(int i) {
      if (name.equals("sample")) {
        return List.of(Map.entry("PRODUCT-123", 3), Map.entry("PRODUCT-321", 1));
      }
      java.util.SplittableRandom rng = new java.util.SplittableRandom(0x5eedL + i);
      int n = 1 + rng.nextInt(3);
      List<Map.Entry<String, Integer>> out = new ArrayList<>(n);
      java.util.Set<Integer> taken = new java.util.HashSet<>();
      while (out.size() < n) {
        int k = rng.nextInt(1000);
        if (taken.add(k)) {
          out.add(Map.entry(String.format(Locale.ROOT, "PRODUCT-%04d", k), 1 + k % 3));
        }
      }
      return out;
    }

    static String orderId(int i) {
      return String.format(Locale.ROOT, "ORDER-%07d", i);
    }

    String body(int i) {
      StringBuilder b = new StringBuilder("{\"orderId\":\"").append(orderId(i))
          .append("\",\"customerId\":\"CUSTOMER-123\",\"products\":[");
      List<Map.Entry<String, Integer>> lines = lines(i);
      for (int l = 0; l < lines.size(); l++) {
        if (l > 0) {
          b.append(',');
        }
        b.append("{\"productId\":\"").append(lines.get(l).getKey()).append("\",\"quantity\":")
            .append(lines.get(l).getValue()).append(",\"totalPrice\":80}");
      }
      return b.append("]}").toString();
    }

    /**
     * Applies orders 0 to n-1 to a fresh stock, as the tutorial's rule says (109 items,
     * refilled to 109 at or below 100), and counts the events.
     */
    Events expect(int n) {
      Map<String, Integer> stock = new HashMap<>();
      long updated = 0;
      long refills = 0;
      for (int i = 0; i < n; i++) {
        for (Map.Entry<String, Integer> line : lines(i)) {
          int left = stock.getOrDefault(line.getKey(), INITIAL) - line.getValue();
          updated++;
          if (left <= InventoryStreams.REFILL_THRESHOLD) {
            refills++;
            left = InventoryStreams.REFILL_LEVEL;
          }
          stock.put(line.getKey(), left);
        }
      }
      return new Events(updated, refills, refills);
    }
  }

  static ProducerRecord<String, String> order(Workload w, int i) {
    String id = Workload.orderId(i);
    ProducerRecord<String, String> r = new ProducerRecord<>(ORDERS, id, w.body(i));
    r.headers().add("correlation-id", id.getBytes(StandardCharsets.UTF_8));
    return r;
  }

  // ------------------------------------------------------------------ prepare

  static void prepare(String bootstrap, int orders, Workload workload, boolean warm) throws Exception {
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
    if (orders == 0) {
      return;
    }
    long start = System.nanoTime();
    try (KafkaProducer<String, String> producer = orderProducer(bootstrap)) {
      AtomicReference<Exception> failed = new AtomicReference<>();
      for (int i = 0; i < orders && failed.get() == null; i++) {
        producer.send(order(workload, i), (md, e) -> {
          if (e != null) {
            failed.compareAndSet(null, e);
          }
        });
      }
      producer.flush();
      if (failed.get() != null) {
        throw failed.get();
      }
    }
    long written;
    try (Admin admin = admin(bootstrap)) {
      written = endOffsets(admin, ORDERS, PARTITIONS).values().stream().mapToLong(Long::longValue).sum();
    }
    if (written != orders) {
      throw new IllegalStateException(ORDERS + " holds " + written + " records, want " + orders);
    }
    log("wrote %d %s orders to %s in %.2f s", orders, workload.name(), ORDERS, (System.nanoTime() - start) / 1e9);
  }

  static KafkaProducer<String, String> orderProducer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, 128 * 1024);
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000);
    // One request at a time (each holds a batch for every partition): a retried batch can
    // never be overtaken by the next one.
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
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
    int rate = 0;
    Workload workload = null;
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
        case "--rate" -> rate = Integer.parseInt(v);
        case "--workload" -> workload = Workload.of(v);
        case "--input" -> inputs.add(v);
        case "--timeout" -> timeout = Double.parseDouble(v);
        case "--log" -> logFile = v;
        case "--pid-file" -> pidFile = v;
        default -> usage();
      }
    }
    if (bootstrap == null || group == null || workload == null || orders < 1 || rate < 0 || inputs.isEmpty()
        || command.isEmpty()) {
      usage();
    }
    int total = rate > 0 ? WARM_UP + orders : orders;
    Events want = workload.expect(total);
    log("want %s for %d %s orders; group %s must commit every record of %s", want, total, workload.name(), group,
        inputs);

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
      Latencies latencies = new Latencies();
      Tally tally = new Tally(latencies);
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

      // Paced: the warm-up orders at once, and the rest at the rate once their events are out.
      Pacer pacer = null;
      Events warmedUp = workload.expect(WARM_UP);
      if (rate > 0) {
        try (KafkaProducer<String, String> producer = orderProducer(bootstrap)) {
          for (int i = 0; i < WARM_UP; i++) {
            producer.send(order(workload, i));
          }
        }
      }
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
          tally.count(r, System.nanoTime());
        }
        long now = System.nanoTime();
        if (firstAt == 0 && tally.any()) {
          firstAt = now;
        }
        if (rate > 0 && pacer == null && tally.events().covers(warmedUp)) {
          log("%.1f s: the warm-up's events are out; %d orders at %d a second", (now - t0) / 1e9, orders, rate);
          pacer = new Pacer(bootstrap, workload, WARM_UP, orders, rate, latencies);
          pacer.start();
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
        if (pacer != null && pacer.failed.get() != null) {
          log("error: writing the paced orders failed: %s", pacer.failed.get());
          stop(proc);
          Runtime.getRuntime().removeShutdownHook(stopper);
          return 1;
        }
        if (eventsDone && committed) {
          double seconds = (now - t0) / 1e9;
          log("done after %.2f s", seconds);
          if (pacer != null) {
            pacer.join();
          }
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
              "RESULT seconds=%.3f first=%.3f events=%.3f committed=%.3f updated=%d refills=%d empties=%d exact=%b%s%n",
              seconds, (firstAt - t0) / 1e9, (eventsAt - t0) / 1e9, (committedAt - t0) / 1e9, got.updated, got.refills,
              got.empties, exact, rate > 0 ? " " + latencies.describe() : "");
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
        tally.count(r, System.nanoTime());
      }
    }
    return false;
  }

  /** The orders watch writes before the paced ones, so that the app has started in earnest. */
  static final int WARM_UP = 100;

  /** Writes orders first..first+n-1 at rate a second, noting when each was sent. */
  static final class Pacer extends Thread {
    final String bootstrap;
    final Workload workload;
    final int first;
    final int n;
    final int rate;
    final Latencies latencies;
    final AtomicReference<Exception> failed = new AtomicReference<>();

    Pacer(String bootstrap, Workload workload, int first, int n, int rate, Latencies latencies) {
      super("pacer");
      this.bootstrap = bootstrap;
      this.workload = workload;
      this.first = first;
      this.n = n;
      this.rate = rate;
      this.latencies = latencies;
    }

    @Override
    public void run() {
      try (KafkaProducer<String, String> producer = orderProducer(bootstrap)) {
        long start = System.nanoTime();
        for (int k = 0; k < n && failed.get() == null; k++) {
          long due = start + (long) (k * 1e9 / rate);
          long wait = due - System.nanoTime();
          if (wait > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
          }
          int i = first + k;
          latencies.sent(Workload.orderId(i), workload.lines(i).size(), System.nanoTime());
          producer.send(order(workload, i), (md, e) -> {
            if (e != null) {
              failed.compareAndSet(null, e);
            }
          });
        }
        producer.flush();
      } catch (Exception e) {
        failed.compareAndSet(null, e);
      }
    }
  }

  /** When each paced order was sent, and how long its events took to be read. */
  static final class Latencies {
    final Map<String, Long> sent = new java.util.concurrent.ConcurrentHashMap<>();
    final Map<String, Integer> linesLeft = new java.util.concurrent.ConcurrentHashMap<>();
    final List<Long> empty = new ArrayList<>();
    final List<Long> updated = new ArrayList<>();

    void sent(String orderId, int lines, long at) {
      linesLeft.put(orderId, lines);
      sent.put(orderId, at);
    }

    /** Notes an event read at now, by the correlation-id it carries on from its order. */
    void read(ConsumerRecord<String, String> r, long now) {
      org.apache.kafka.common.header.Header h = r.headers().lastHeader("correlation-id");
      if (h == null) {
        return;
      }
      String id = new String(h.value(), StandardCharsets.UTF_8);
      Long at = sent.get(id);
      if (at == null) {
        return;
      }
      if (r.topic().equals(INVENTORY_EMPTY)) {
        empty.add(now - at);
      } else if (InventoryStreams.ACTION_UPDATED.equals(r.value()) && linesLeft.merge(id, -1, Integer::sum) == 0) {
        updated.add(now - at);
      }
    }

    String describe() {
      return String.format(Locale.ROOT, "empty_p50=%.1f empty_p99=%.1f updated_p50=%.1f updated_p99=%.1f orders=%d",
          ms(empty, 0.50), ms(empty, 0.99), ms(updated, 0.50), ms(updated, 0.99), updated.size());
    }

    static double ms(List<Long> nanos, double q) {
      if (nanos.isEmpty()) {
        return -1;
      }
      List<Long> sorted = new ArrayList<>(nanos);
      sorted.sort(null);
      return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(q * sorted.size()) - 1)) / 1e6;
    }
  }

  /** Counts the inventory's events on the output topics. */
  static final class Tally {
    final Latencies latencies;
    long updated;
    long refills;
    long empties;

    Tally(Latencies latencies) {
      this.latencies = latencies;
    }

    void count(ConsumerRecord<String, String> r, long now) {
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
      latencies.read(r, now);
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
