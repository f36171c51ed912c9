package org.elasticsearch.node;

import java.util.Collection;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

/**
 * Elasticsearch 9.1: as for 8.15, but plugin services are built from a PluginsLoader (none
 * here: every plugin comes from the classpath).
 */
public final class MimelogNodeFactory {
  private MimelogNodeFactory() {}

  public static Node create(Environment environment, Collection<Class<? extends Plugin>> plugins) {
    NodeServiceProvider provider = new NodeServiceProvider() {
      @Override
      PluginsService newPluginService(Environment env, PluginsLoader loader) {
        return new MockPluginsService(env.settings(), env, plugins);
      }
    };
    return new Node(NodeConstruction.prepareConstruction(environment, null, provider, true));
  }
}
