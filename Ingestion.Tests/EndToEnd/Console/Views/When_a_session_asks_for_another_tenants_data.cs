using System.Net;
using System.Net.Http.Json;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// A console session acts for its key's tenant only: the export and the rate budget the data pages
/// read are the tenant's own, and another tenant's names are unknown to it. Over HTTP with the
/// session cookie, as the page sends it (no browser needed).
/// </summary>
public sealed class When_a_session_asks_for_another_tenants_data
{
    [Test]
    public async Task Should_not_find_another_tenants_export_or_budget()
    {
        var name = "private_" + Guid.NewGuid().ToString("N")[..8];
        using var acmeKey = ViewsRun.Stack.Client(Keys.Acme);
        await TestSources.RegisterAsync(acmeKey, TestSources.EventsDataset(name), TestSources.Events(name, name, ViewsRun.Simulator.BaseUrl));
        using var acme = await SessionAsync(Keys.Acme);
        using var globex = await SessionAsync(Keys.Globex);

        foreach (var path in new[] { $"/v1/datasets/{name}/rows.csv", $"/v1/sources/{name}/budget" })
        {
            using var own = await acme.GetAsync(path);
            Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{path}: {await own.Content.ReadAsStringAsync()}");
            using var other = await globex.GetAsync(path);
            Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), path);
            Assert.That(await other.Content.ReadAsStringAsync(), Does.Contain(name), "the problem names what it did not find");
        }
    }

    /// <summary>A client that sends a fresh session's cookie on every request, as the console's page does.</summary>
    private static async Task<HttpClient> SessionAsync(string key)
    {
        var client = new HttpClient { BaseAddress = ViewsRun.Stack.Api.Url };
        using var signIn = await client.PostAsJsonAsync("/v1/session", new { apiKey = key });
        signIn.EnsureSuccessStatusCode();
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("ingestion_session=", StringComparison.Ordinal));
        client.DefaultRequestHeaders.Add("Cookie", cookie.Split(';')[0]);
        return client;
    }
}
