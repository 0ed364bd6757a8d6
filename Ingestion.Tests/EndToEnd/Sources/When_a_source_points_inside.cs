using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Sources;

/// <summary>
/// A source's base URL passes the same address guard as webhook callbacks: the shared deployment
/// allow-lists no source host, so loopback, private, link-local and metadata addresses are refused
/// when the source is declared, before anything is sent there.
/// </summary>
public sealed class When_a_source_points_inside
{
    private HttpClient _acme = null!;
    private string _dataset = null!;

    [OneTimeSetUp]
    public async Task RegisterDatasetAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        _dataset = "inside_" + Guid.NewGuid().ToString("N")[..8];
        using var created = await _acme.PostAsJsonAsync("/v1/datasets", TestSources.EventsDataset(_dataset));
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [TestCase("http://169.254.169.254/latest/meta-data/", "the cloud metadata service")]
    [TestCase("http://10.20.30.40:8080/", "private (10.0.0.0/8)")]
    [TestCase("http://192.168.1.10/", "private (192.168.0.0/16)")]
    [TestCase("http://169.254.10.1/", "link-local")]
    [TestCase("http://[::1]:9000/", "loopback")]
    [TestCase("http://[fd00::1]/", "unique local")]
    [TestCase("http://localhost:9000/", "resolves to")]
    public async Task Should_refuse_an_internal_address(string baseUrl, string reason)
    {
        var problem = await RefusedAsync(baseUrl);

        Assert.That(problem["errors"]!["request.baseUrl"]![0]!.GetValue<string>(), Does.Contain(reason).And.Contain("Sources:AllowedHosts"));
    }

    [Test]
    public async Task Should_refuse_loopback_without_sending_it_anything()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var problem = await RefusedAsync($"http://127.0.0.1:{port}/");

        Assert.That(problem["errors"]!["request.baseUrl"]![0]!.GetValue<string>(), Does.Contain("127.0.0.1 is loopback"));
        await Task.Delay(500);
        Assert.That(listener.Pending(), Is.False, "no connection was made to the refused address");
    }

    [TestCase("//169.254.169.254/latest", "request.path")]
    [TestCase("http://169.254.169.254/latest", "request.path")]
    [TestCase("/v1/../../admin", "request.path")]
    public async Task Should_refuse_a_path_that_leaves_the_base_url(string path, string field)
    {
        var source = TestSources.Events("inside_path", _dataset, new Uri("http://127.0.0.1:9/"));
        source["request"]!["path"] = path;

        using var response = await _acme.PostAsJsonAsync("/v1/sources", source);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Does.Contain(field));
    }

    [TestCase("ftp://files.example.com/", "must be http or https")]
    [TestCase("https://user:pass@api.example.com/", "credentials")]
    [TestCase("https://api.example.com/?api_key=x", "query")]
    public async Task Should_refuse_a_base_url_that_is_not_a_plain_http_root(string baseUrl, string reason)
    {
        var problem = await RefusedAsync(baseUrl);

        Assert.That(problem["errors"]!["request.baseUrl"]![0]!.GetValue<string>(), Does.Contain(reason));
    }

    private async Task<JsonNode> RefusedAsync(string baseUrl)
    {
        var source = TestSources.Events("inside_" + Guid.NewGuid().ToString("N")[..8], _dataset, new Uri(baseUrl.Replace("ftp:", "http:")));
        source["request"]!["baseUrl"] = baseUrl;
        using var response = await _acme.PostAsJsonAsync("/v1/sources", source);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), body);
        var problem = JsonNode.Parse(body)!;
        Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "request.baseUrl" }), body);
        return problem;
    }
}
