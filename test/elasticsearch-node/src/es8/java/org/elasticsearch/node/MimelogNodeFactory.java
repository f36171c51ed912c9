package org.elasticsearch.node;

import java.util.Collection;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsService;

/**
 * Elasticsearch 8.15: a Node whose plugins come from the classpath. The constructor that takes
 * a NodeConstruction, prepareConstruction and NodeServiceProvider are package-private, hence
 * this class lives in org.elasticsearch.node (on the classpath, not in a module).
 */
public final class MimelogNodeFactory {
  private MimelogNodeFactory() {}

  public static Node create(Environment environment, Collection<Class<? extends Plugin>> plugins) {
    NodeServiceProvider provider = new NodeServiceProvider() {
      @Override
      PluginsService newPluginService(Environment env, Settings settings) {
        return new MockPluginsService(settings, env, plugins);
      }
    };
    return new Node(NodeConstruction.prepareConstruction(environment, provider, true));
  }
}
