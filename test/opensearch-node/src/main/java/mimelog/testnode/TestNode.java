package mimelog.testnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.settings.Settings;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One real OpenSearch 2.19 node in this JVM, for mimelog's tests (no Docker, no tarball).
 * Node's public constructor loads plugins from a plugins folder only; the protected one takes
 * classpath plugins, so a subclass passes the Netty4 HTTP/transport module.
 *
 * Arguments are key=value: home, name, cluster, http.port, transport.port, and for a cluster
 * seeds (comma-separated transport ports) and managers (comma-separated node names).
 * Prints "mimelog-test-node started" once the node has started; stops on SIGTERM.
 */
public final class TestNode {
  private static final class ClasspathPluginNode extends Node {
    ClasspathPluginNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
      super(InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> settings.get("node.name")), plugins, true);
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new HashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq < 1) throw new IllegalArgumentException("expected key=value, got " + a);
      opts.put(a.substring(0, eq), a.substring(eq + 1));
    }
    Path home = Path.of(require(opts, "home"));
    Files.createDirectories(home);
    Settings.Builder settings = Settings.builder()
        .put("path.home", home.toString())
        .put("path.data", home.resolve("data").toString())
        .put("path.logs", home.resolve("logs").toString())
        .put("cluster.name", opts.getOrDefault("cluster", "mimelog-test"))
        .put("node.name", require(opts, "name"))
        .put("network.host", "127.0.0.1")
        .put("http.port", require(opts, "http.port"))
        .put("transport.port", require(opts, "transport.port"))
        // Tests fill small disks quickly; watermarks would turn indices read-only.
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.auto_create_index", true);
    String seeds = opts.get("seeds");
    if (seeds == null || seeds.isEmpty()) {
      settings.put("discovery.type", "single-node");
    } else {
      List<String> hosts = Arrays.stream(seeds.split(",")).map(p -> "127.0.0.1:" + p).toList();
      settings.putList("discovery.seed_hosts", hosts);
      settings.putList("cluster.initial_cluster_manager_nodes", Arrays.asList(require(opts, "managers").split(",")));
    }
    Node node = new ClasspathPluginNode(settings.build(), List.of(Netty4Plugin.class));
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      }
      stopped.countDown();
    }));
    node.start();
    System.out.println("mimelog-test-node started");
    System.out.flush();
    stopped.await();
  }

  private static String require(Map<String, String> opts, String key) {
    String v = opts.get(key);
    if (v == null) throw new IllegalArgumentException("missing " + key + "=");
    return v;
  }
}
