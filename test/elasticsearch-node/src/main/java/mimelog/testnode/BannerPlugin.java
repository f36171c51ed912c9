package mimelog.testnode;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;

/**
 * `GET /` and `HEAD /`: the usual banner. Its handler lives in the distribution's rest-root
 * module, which is not on Maven Central, and mimelog reads `GET /` to tell the engines apart.
 */
public final class BannerPlugin extends Plugin implements ActionPlugin {
  @Override
  public Collection<RestHandler> getRestHandlers(Settings settings, NamedWriteableRegistry registry, RestController controller,
      ClusterSettings clusterSettings, IndexScopedSettings indexScopedSettings, SettingsFilter settingsFilter,
      IndexNameExpressionResolver resolver, Supplier<DiscoveryNodes> nodes, Predicate<NodeFeature> features) {
    String name = settings.get("node.name");
    String cluster = settings.get("cluster.name");
    return List.of(new BaseRestHandler() {
      @Override
      public String getName() {
        return "mimelog_banner";
      }

      @Override
      public List<Route> routes() {
        return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
      }

      @Override
      protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        String body = "{\"name\":\"" + name + "\",\"cluster_name\":\"" + cluster + "\",\"version\":{\"number\":\""
            + Build.current().version() + "\",\"build_flavor\":\"default\"},\"tagline\":\"You Know, for Search\"}";
        return channel -> channel.sendResponse(new RestResponse(RestStatus.OK, "application/json; charset=UTF-8", body));
      }
    });
  }
}
