using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Sources;

/// <summary>
/// Sources are declared per tenant like datasets, checked against the dataset they load into, and
/// keep their credential write-only. The hosts allow-list 127.0.0.1, where the simulator listens.
/// </summary>
public sealed class When_tenants_declare_sources
{
    private Deployment _stack = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;
    private UpstreamSimulator _simulator = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _simulator = await UpstreamSimulator.StartAsync();
        _stack = await Deployment.StartAsync(TestRun.Servers, "sources", new Dictionary<string, string>
        {
            ["Sources__AllowedHosts__0"] = "127.0.0.1",
            ["Sources__MinimumScheduleMinutes"] = "5",
        }, workers: 0);
        _acme = _stack.Client(Keys.Acme);
        _globex = _stack.Client(Keys.Globex);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        _globex.Dispose();
        await _stack.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Test]
    public async Task Should_register_list_describe_replace_and_delete_a_source()
    {
        var (dataset, name) = Names();
        await TestSources.RegisterAsync(_acme, TestSources.EventsDataset(dataset), TestSources.Events(name, dataset, _simulator.BaseUrl));

        var described = await _acme.GetJsonAsync($"/v1/sources/{name}");
        Assert.That(described["dataset"]!.GetValue<string>(), Is.EqualTo(dataset));
        Assert.That(described["request"]!["baseUrl"]!.GetValue<string>(), Is.EqualTo(_simulator.BaseUrl.ToString()));
        Assert.That(described["auth"]!.ToJsonString(),
            Is.EqualTo("""{"in":"header","name":"Authorization","prefix":"Bearer ","hasSecret":true,"secretUnreadable":false}"""));
        Assert.That(described["pagination"]!["style"]!.GetValue<string>(), Is.EqualTo("cursor"));
        Assert.That(described["records"]!["fields"]!["user_id"]!.GetValue<string>(), Is.EqualTo("$.user.id"));
        Assert.That(described["incremental"]!["format"]!.GetValue<string>(), Is.EqualTo("iso8601"));
        Assert.That(described["syncsUrl"]!.GetValue<string>(), Is.EqualTo($"/v1/sources/{name}/syncs"));
        var listed = (await _acme.GetJsonAsync("/v1/sources")).AsArray().Select(s => s!["name"]!.GetValue<string>());
        Assert.That(listed, Does.Contain(name));

        // Replaced without a secret: the stored one is kept.
        var replacement = TestSources.Events(name, dataset, _simulator.BaseUrl);
        replacement["auth"]!.AsObject().Remove("secret");
        replacement["rateLimit"] = JsonNode.Parse("""{"policies":[{"requests":5,"perSeconds":1},{"requests":100,"perSeconds":60}],"marginMilliseconds":5}""");
        replacement["schedule"] = JsonNode.Parse("""{"everyMinutes":15}""");
        using (var replaced = await _acme.PutAsJsonAsync($"/v1/sources/{name}", replacement))
        {
            var body = await replaced.Content.ReadAsStringAsync();
            Assert.That(replaced.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        }

        var after = await _acme.GetJsonAsync($"/v1/sources/{name}");
        Assert.That(after["rateLimit"]!["policies"]!.ToJsonString(),
            Is.EqualTo("""[{"requests":5,"perSeconds":1},{"requests":100,"perSeconds":60}]"""));
        Assert.That(after["rateLimit"]!["marginMilliseconds"]!.GetValue<int>(), Is.EqualTo(5));
        Assert.That(described["rateLimit"]!["marginMilliseconds"]!.GetValue<int>(), Is.EqualTo(25), "the default, said");
        Assert.That(after["schedule"]!.ToJsonString(), Is.EqualTo("""{"everyMinutes":15,"mode":"incremental"}"""));
        Assert.That(after["auth"]!["hasSecret"]!.GetValue<bool>(), Is.True);

        using (var again = await _acme.PostAsJsonAsync("/v1/sources", TestSources.Events(name, dataset, _simulator.BaseUrl)))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        using (var deleted = await _acme.DeleteAsync($"/v1/sources/{name}"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }

        using var gone = await _acme.GetAsync($"/v1/sources/{name}");
        using var deletedTwice = await _acme.DeleteAsync($"/v1/sources/{name}");
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(deletedTwice.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_name_every_field_that_does_not_fit_the_dataset_or_the_rules()
    {
        var (dataset, name) = Names();
        using (var created = await _acme.PostAsJsonAsync("/v1/datasets", TestSources.EventsDataset(dataset)))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        var source = TestSources.Events(name, dataset, _simulator.BaseUrl);
        source["name"] = "Not An Identifier";
        var fields = source["records"]!["fields"]!.AsObject();
        fields.Remove("id");
        fields.Remove("type");
        fields["colour"] = "$.colour";
        fields["value"] = "value.amount";
        source["pagination"]!.AsObject().Remove("cursorParameter");
        source["rateLimit"] = JsonNode.Parse("""{"policies":[{"requests":0,"perSeconds":60}],"marginMilliseconds":1001}""");
        source["incremental"]!["column"] = "user_id";
        source["partitions"] = JsonNode.Parse("""{"start":"2026-01-01T00:00:00Z","sliceSeconds":3600}""");
        source["incremental"]!.AsObject().Remove("untilParameter");
        source["schedule"] = JsonNode.Parse("""{"everyMinutes":1}""");

        using var response = await _acme.PostAsJsonAsync("/v1/sources", source);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), problem.ToJsonString());
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/problem+json"));
        var errors = problem["errors"]!.AsObject();
        Assert.That(errors.Select(e => e.Key), Is.EquivalentTo(new[]
        {
            "name", "records.fields", "records.fields.colour", "records.fields.value", "pagination.cursorParameter",
            "rateLimit.policies[0].requests", "rateLimit.marginMilliseconds", "incremental.column", "incremental.untilParameter",
            "schedule.everyMinutes",
        }));
        Assert.That(errors["rateLimit.marginMilliseconds"]![0]!.GetValue<string>(), Does.Contain("from 0 to 1000 milliseconds"));
        var mapping = errors["records.fields"]!.AsArray().Select(e => e!.GetValue<string>()).ToList();
        Assert.That(mapping, Has.Some.Contains("key column 'id'"));
        Assert.That(mapping, Has.Some.Contains("required column 'type'"));
        Assert.That(errors["incremental.column"]![0]!.GetValue<string>(), Does.Contain("timestamptz"));
        Assert.That(errors["schedule.everyMinutes"]![0]!.GetValue<string>(), Does.Contain("5 minutes"));
        using var missing = await _acme.GetAsync("/v1/sources/Not An Identifier");
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_need_what_each_pagination_style_reads()
    {
        var (dataset, name) = Names();
        using (var created = await _acme.PostAsJsonAsync("/v1/datasets", TestSources.EventsDataset(dataset)))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        var expected = new Dictionary<string, string[]>
        {
            ["""{"style":"cursor","cursorParameter":"cursor"}"""] = ["pagination.cursorPath"],
            ["""{"style":"page"}"""] = ["pagination.pageParameter"],
            ["""{"style":"offset","offsetParameter":"offset"}"""] = ["pagination.limitParameter"],
            ["""{"style":"scroll"}"""] = ["pagination.style"],
            ["""{"style":"nextLink","nextLinkPath":"links..next"}"""] = ["pagination.nextLinkPath"],
            ["""{"style":"page","pageParameter":"page","pageSize":100}"""] = ["pagination.limitParameter"],
        };
        foreach (var (pagination, fields) in expected)
        {
            var source = TestSources.Events(name, dataset, _simulator.BaseUrl);
            source["pagination"] = JsonNode.Parse(pagination);
            using var response = await _acme.PostAsJsonAsync("/v1/sources", source);
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), pagination);
            Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(fields), pagination);
        }

        var linkHeader = TestSources.Events(name, dataset, _simulator.BaseUrl);
        linkHeader["request"]!["path"] = "/v1/events/pages";
        linkHeader["pagination"] = JsonNode.Parse("""{"style":"nextLink","limitParameter":"per_page","pageSize":5000}""");
        using var accepted = await _acme.PostAsJsonAsync("/v1/sources", linkHeader);
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Created), await accepted.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task Should_keep_each_tenants_sources_and_datasets_to_itself()
    {
        var (dataset, name) = Names();
        await TestSources.RegisterAsync(_acme, TestSources.EventsDataset(dataset), TestSources.Events(name, dataset, _simulator.BaseUrl));

        using var get = await _globex.GetAsync($"/v1/sources/{name}");
        using var put = await _globex.PutAsJsonAsync($"/v1/sources/{name}", TestSources.Events(name, dataset, _simulator.BaseUrl));
        using var delete = await _globex.DeleteAsync($"/v1/sources/{name}");
        using var onAcmesDataset = await _globex.PostAsJsonAsync("/v1/sources", TestSources.Events(name, dataset, _simulator.BaseUrl));
        var listed = (await _globex.GetJsonAsync("/v1/sources")).AsArray().Select(s => s!["name"]!.GetValue<string>());

        Assert.That((get.StatusCode, put.StatusCode, delete.StatusCode),
            Is.EqualTo((HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound)));
        Assert.That(onAcmesDataset.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(JsonNode.Parse(await onAcmesDataset.Content.ReadAsStringAsync())!["errors"]!["dataset"]![0]!.GetValue<string>(),
            Does.Contain($"no dataset named '{dataset}'"));
        Assert.That(listed, Does.Not.Contain(name));
        Assert.That((await _acme.GetJsonAsync($"/v1/sources/{name}"))["name"]!.GetValue<string>(), Is.EqualTo(name), "still there");
    }

    [Test]
    public async Task Should_never_return_store_in_clear_or_log_the_secret()
    {
        var (dataset, name) = Names();
        var secret = "sk_live_" + Guid.NewGuid().ToString("N");
        await TestSources.RegisterAsync(_acme, TestSources.EventsDataset(dataset), TestSources.Events(name, dataset, _simulator.BaseUrl, secret));

        var answers = new List<string>
        {
            (await _acme.GetJsonAsync($"/v1/sources/{name}")).ToJsonString(),
            (await _acme.GetJsonAsync("/v1/sources")).ToJsonString(),
        };
        var invalid = TestSources.Events(name, dataset, _simulator.BaseUrl, secret);
        invalid["rateLimit"] = JsonNode.Parse("""{"policies":[]}""");
        var badSecret = TestSources.Events(name + "_2", dataset, _simulator.BaseUrl, secret + "\n");
        var newSecret = "sk_live_" + Guid.NewGuid().ToString("N");
        foreach (var send in new Func<Task<HttpResponseMessage>>[]
                 {
                     () => _acme.PostAsJsonAsync("/v1/sources", TestSources.Events(name, dataset, _simulator.BaseUrl, secret)),
                     () => _acme.PutAsJsonAsync($"/v1/sources/{name}", invalid),
                     () => _acme.PostAsJsonAsync("/v1/sources", badSecret),
                     () => _acme.PutAsJsonAsync($"/v1/sources/{name}", TestSources.Events(name, dataset, _simulator.BaseUrl, newSecret)),
                 })
        {
            using var response = await send();
            answers.Add($"{(int)response.StatusCode} {response.Headers} {await response.Content.ReadAsStringAsync()}");
        }

        Assert.That(answers.Select(a => a[..3]).Skip(2), Is.EqualTo(new[] { "409", "400", "400", "200" }));
        Assert.That(answers, Has.None.Contains(secret).And.None.Contains(newSecret));
        Assert.That(answers, Has.None.Contains("\"secret\""));
        Assert.That(_stack.Api.Log(), Does.Not.Contain(secret).And.Not.Contain(newSecret).And.Not.Contain("sk_live_"));

        var stored = await _stack.Sandbox.ScalarAsync<byte[]>(
            "select secret from ingestion.sources where tenant_id = 'acme' and name = @name", ("name", name));
        var definition = await _stack.Sandbox.ScalarAsync<string>(
            "select definition::text from ingestion.sources where tenant_id = 'acme' and name = @name", ("name", name));
        Assert.That(stored, Is.Not.Null.And.Length.GreaterThan(Encoding.UTF8.GetByteCount(newSecret)));
        Assert.That(Encoding.UTF8.GetString(stored!), Does.Not.Contain("sk_live_"));
        Assert.That(Convert.ToHexString(stored!), Does.Not.Contain(Convert.ToHexString(Encoding.UTF8.GetBytes(newSecret))));
        Assert.That(definition, Does.Not.Contain("sk_live_"));
    }

    [Test]
    public async Task Should_still_show_and_replace_a_source_whose_secret_no_longer_opens()
    {
        var (dataset, name) = Names();
        await TestSources.RegisterAsync(_acme, TestSources.EventsDataset(dataset), TestSources.Events(name, dataset, _simulator.BaseUrl));
        // As if Sources:SecretKey had changed: the sealed bytes no longer open.
        await _stack.Sandbox.ExecuteAsync(
            "update ingestion.sources set secret = decode(repeat('ab', 40), 'hex') where tenant_id = 'acme' and name = @name", ("name", name));

        var described = await _acme.GetJsonAsync($"/v1/sources/{name}");
        var withoutSecret = TestSources.Events(name, dataset, _simulator.BaseUrl);
        withoutSecret["auth"]!.AsObject().Remove("secret");
        using var refused = await _acme.PutAsJsonAsync($"/v1/sources/{name}", withoutSecret);
        using var repaired = await _acme.PutAsJsonAsync($"/v1/sources/{name}", TestSources.Events(name, dataset, _simulator.BaseUrl));

        Assert.That((described["auth"]!["hasSecret"]!.GetValue<bool>(), described["auth"]!["secretUnreadable"]!.GetValue<bool>()),
            Is.EqualTo((false, true)));
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["errors"]!["auth.secret"], Is.Not.Null);
        Assert.That(repaired.StatusCode, Is.EqualTo(HttpStatusCode.OK), await repaired.Content.ReadAsStringAsync());
        var after = await _acme.GetJsonAsync($"/v1/sources/{name}");
        Assert.That((after["auth"]!["hasSecret"]!.GetValue<bool>(), after["auth"]!["secretUnreadable"]!.GetValue<bool>()),
            Is.EqualTo((true, false)));
    }

    private static (string Dataset, string Source) Names()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        return ($"events_{suffix}", $"events_api_{suffix}");
    }
}
