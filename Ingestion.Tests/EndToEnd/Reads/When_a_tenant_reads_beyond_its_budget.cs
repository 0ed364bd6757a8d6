using System.Net;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>An API whose tenants may read twice a second, in bursts of 3.</summary>
public sealed class When_a_tenant_reads_beyond_its_budget
{
    private Deployment _stack = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _stack = await Deployment.StartAsync(TestRun.Servers, "budget", new Dictionary<string, string>
    {
        ["Reads__Budget__PerSecond"] = "2",
        ["Reads__Budget__Burst"] = "3",
        ["Reads__Budget__Tenants__globex__PerSecond"] = "100",
        ["Reads__Budget__Tenants__globex__Burst"] = "100",
    }, workers: 0);

    [OneTimeTearDown]
    public async Task StopAsync() => await _stack.DisposeAsync();

    [Test]
    public async Task Should_answer_429_with_retry_after_and_the_ratelimit_fields()
    {
        using var acme = _stack.Client(Keys.Acme);
        using var globex = _stack.Client(Keys.Globex);
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => acme.GetAsync("/v1/datasets/transactions/rows?limit=1")));
        var served = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        var refused = responses.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);

        Assert.That(served, Has.Count.InRange(3, 5), "the burst, and what refilled while the requests ran");
        Assert.That(responses.Select(r => r.StatusCode), Has.All.AnyOf(HttpStatusCode.OK, HttpStatusCode.TooManyRequests));
        foreach (var response in served)
        {
            Assert.That(response.Headers.GetValues("RateLimit-Policy").Single(), Does.StartWith("\"reads\";q=2;w=1"));
            Assert.That(response.Headers.GetValues("RateLimit").Single(), Does.Match("^\"reads\";r=\\d+;t=0$"));
        }

        Assert.That(refused!.Headers.RetryAfter!.Delta, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(refused.Headers.GetValues("RateLimit").Single(), Does.Match("^\"reads\";r=0;t=\\d+$"));
        Assert.That((await refused.ProblemAsync())["title"]!.GetValue<string>(), Is.EqualTo("Read budget spent"));
        foreach (var response in responses)
        {
            response.Dispose();
        }

        using var other = await globex.GetAsync("/v1/datasets/transactions/rows?limit=1");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.OK), "another tenant's budget is its own");

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        using var later = await acme.GetAsync("/v1/datasets/transactions/rows?limit=1");
        Assert.That(later.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the bucket refills");
    }
}
