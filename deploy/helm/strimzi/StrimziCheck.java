import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.client.CustomResource;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import java.beans.Introspector;
import java.io.File;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * StrimziCheck reads Strimzi custom resources from YAML files into Strimzi's
 * own API model (the io.strimzi:api jar), as strictly as the operator's API
 * server would take them: an unknown property, a value of the wrong type, a
 * missing required property or a deprecated one is an error. The model keeps
 * unknown properties aside instead of failing (its additionalProperties), so
 * every object read is walked for them.
 *
 * <p>Usage: java -cp CLASSPATH StrimziCheck.java FILE... (see strimzi.sh).
 * Prints "ok KIND NAME" per document; exits 1 after listing every problem.
 */
public class StrimziCheck {
    static final String GROUP = "kafka.strimzi.io";
    static final Map<String, Class<? extends CustomResource<?, ?>>> KINDS =
            Map.of("Kafka", Kafka.class, "KafkaNodePool", KafkaNodePool.class, "KafkaTopic", KafkaTopic.class);

    public static void main(String[] args) throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory()
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION));
        ObjectMapper model = JsonMapper.builder()
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                // Written back with every property, defaults included, for kept().
                .annotationIntrospector(new JacksonAnnotationIntrospector() {
                    @Override
                    public JsonInclude.Value findPropertyInclusion(Annotated a) {
                        return JsonInclude.Value.empty();
                    }
                })
                .build();
        List<String> problems = new ArrayList<>();
        int documents = 0;
        for (String file : args) {
            for (JsonNode doc : yaml.readerFor(JsonNode.class).readValues(new File(file)).readAll()
                    .stream().map(JsonNode.class::cast).toList()) {
                if (doc == null || doc.isNull() || doc.isMissingNode() || doc.isEmpty()) {
                    continue;
                }
                documents++;
                String kind = doc.path("kind").asText();
                String where = file + ": " + kind + " " + doc.path("metadata").path("name").asText("?");
                List<String> found = check(model, doc, kind);
                if (found.isEmpty()) {
                    System.out.println("ok " + kind + " " + doc.path("metadata").path("name").asText());
                }
                for (String p : found) {
                    problems.add(where + ": " + p);
                }
            }
        }
        if (documents == 0) {
            problems.add("no documents in " + String.join(", ", args));
        }
        for (String p : problems) {
            System.err.println(p);
        }
        System.exit(problems.isEmpty() ? 0 : 1);
    }

    static List<String> check(ObjectMapper model, JsonNode doc, String kind) throws Exception {
        List<String> problems = new ArrayList<>();
        Class<? extends CustomResource<?, ?>> type = KINDS.get(kind);
        if (type == null) {
            problems.add("not a kind this check knows (" + KINDS.keySet() + ")");
            return problems;
        }
        @SuppressWarnings("unchecked")
        List<String> versions = (List<String>) type.getField("VERSIONS").get(null);
        String apiVersion = doc.path("apiVersion").asText();
        if (!apiVersion.startsWith(GROUP + "/") || !versions.contains(apiVersion.substring(GROUP.length() + 1))) {
            problems.add("apiVersion " + apiVersion + " is not one of " + GROUP + "/" + versions);
        }
        Object resource;
        try {
            resource = model.treeToValue(doc, type);
        } catch (Exception e) {
            problems.add(e.getMessage().lines().findFirst().orElse(e.toString()));
            return problems;
        }
        walk(resource, "", problems, new IdentityHashMap<>());
        ((ObjectNode) doc).remove("apiVersion"); // checked above; the model writes its own
        kept(doc, model.valueToTree(resource), "", problems);
        return problems;
    }

    /**
     * kept reports every value of the input that the model did not keep as
     * it was given: an enum value it does not know becomes null, another
     * spelling of one is rewritten. The model may add defaults.
     */
    static void kept(JsonNode in, JsonNode out, String path, List<String> problems) {
        if (out == null || out.isNull() || out.isMissingNode()) {
            if (!in.isNull()) {
                problems.add(path + ": " + in + " is not a value the model takes");
            }
            return;
        }
        if (in.isObject()) {
            in.fields().forEachRemaining(f -> kept(f.getValue(), out.get(f.getKey()),
                    path.isEmpty() ? f.getKey() : path + "." + f.getKey(), problems));
        } else if (in.isArray()) {
            for (int i = 0; i < in.size(); i++) {
                kept(in.get(i), out.get(i), path + "[" + i + "]", problems);
            }
        } else if (in.isNumber() && out.isNumber()
                ? in.decimalValue().compareTo(out.decimalValue()) != 0
                : !in.equals(out)) {
            problems.add(path + ": " + in + " is read as " + out);
        }
    }

    /** walk reports what the model set aside or misses, in o and everything it holds. */
    static void walk(Object o, String path, List<String> problems, IdentityHashMap<Object, Boolean> seen) {
        if (o == null || seen.put(o, true) != null) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                walk(e, path + "[" + i++ + "]", problems, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> walk(v, path + "." + k, problems, seen));
            return;
        }
        String pkg = o.getClass().getPackageName();
        if (!pkg.startsWith("io.strimzi.") && !pkg.startsWith("io.fabric8.")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || m.getDeclaringClass() == Object.class) {
                continue;
            }
            String name = property(m);
            if (name == null) {
                continue;
            }
            Object value;
            try {
                value = m.invoke(o);
            } catch (ReflectiveOperationException | RuntimeException e) {
                continue;
            }
            String at = path.isEmpty() ? name : path + "." + name;
            if (name.equals("additionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    for (Object k : extra.keySet()) {
                        problems.add("unknown property " + (path.isEmpty() ? "" : path + ".") + k);
                    }
                }
                continue;
            }
            JsonProperty jp = m.getAnnotation(JsonProperty.class);
            if (value == null && jp != null && jp.required()) {
                problems.add("required property " + at + " is missing");
            }
            if (value != null && m.isAnnotationPresent(Deprecated.class)) {
                problems.add("deprecated property " + at + " is set");
            }
            walk(value, at, problems, seen);
        }
    }

    /** property returns the JSON name of a getter, or null if m is none. */
    static String property(Method m) {
        String n = m.getName();
        String bare;
        if (n.startsWith("get") && n.length() > 3) {
            bare = n.substring(3);
        } else if (n.startsWith("is") && n.length() > 2 && m.getReturnType() == boolean.class) {
            bare = n.substring(2);
        } else {
            return null;
        }
        JsonProperty jp = m.getAnnotation(JsonProperty.class);
        if (jp != null && !jp.value().isEmpty()) {
            return jp.value();
        }
        return Introspector.decapitalize(bare);
    }
}
