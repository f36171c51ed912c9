package mimelog.testnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.MimelogNodeFactory;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * One real Elasticsearch node (8.15 or 9.1, by build profile) in this JVM, for mimelog's tests.
 * There is no x-pack (it is not on Maven Central), so no security: TLS and credentials are
 * tested through the TLS front the OpenSearch tests use.
 *
 * Arguments are key=value: home, name, http.port, transport.port. Prints
 * "mimelog-test-node started" once the node has started; stops on SIGTERM.
 */
public final class TestNode {
  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new HashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq < 1) throw new IllegalArgumentException("expected key=value, got " + a);
      opts.put(a.substring(0, eq), a.substring(eq + 1));
    }
    Path home = Path.of(require(opts, "home"));
    Path config = home.resolve("config");
    Files.createDirectories(config);
    // Elasticsearch's logging wants a config file; a console appender at WARN is enough here.
    Files.writeString(config.resolve("log4j2.properties"), String.join("\n",
        "status = error",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n",
        "rootLogger.level = warn",
        "rootLogger.appenderRef.console.ref = console", ""));
    String name = require(opts, "name");
    Settings settings = Settings.builder()
        .put("path.home", home.toString())
        .put("path.data", home.resolve("data").toString())
        .put("path.logs", home.resolve("logs").toString())
        .put("cluster.name", opts.getOrDefault("cluster", "mimelog-test"))
        .put("node.name", name)
        .put("network.host", "127.0.0.1")
        .put("http.port", require(opts, "http.port"))
        .put("transport.port", require(opts, "transport.port"))
        .put("discovery.type", "single-node")
        // Tests fill small disks quickly; watermarks would turn indices read-only.
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .put("action.auto_create_index", true)
        .build();
    Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> name);
    LogConfigurator.registerErrorListener();
    LogConfigurator.setNodeName(name); // before configure: the %node_name pattern needs it
    LogConfigurator.configure(environment, true);
    Node node = MimelogNodeFactory.create(environment, List.of(Netty4Plugin.class, BannerPlugin.class));
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
