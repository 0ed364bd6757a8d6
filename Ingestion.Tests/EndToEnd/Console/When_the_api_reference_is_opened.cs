using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// The API reference (Scalar, over the OpenAPI document) opens without a key, every file it
/// loads comes from this API (no CDN: the service runs without internet access), and the
/// document describes how to sign and the problem responses.
/// </summary>
public sealed class When_the_api_reference_is_opened : ConsoleTest
{
    [Test]
    public async Task Should_load_everything_from_this_origin_without_a_key()
    {
        var elsewhere = new List<string>();
        Page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(BaseUrl.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal))
            {
                elsewhere.Add(request.Url);
            }
        };

        var response = await Page.GotoAsync(new Uri(BaseUrl, "/reference/").ToString());
        Assert.That(response!.Status, Is.EqualTo((int)HttpStatusCode.OK));
        Assert.That((await response.AllHeadersAsync())["content-security-policy"], Does.Match("script-src 'self' 'nonce-[^']+'"));
        await Expect(Page.GetByText("/v1/jobs/{jobId}/retry").First).ToBeAttachedAsync(new() { Timeout = 30_000 });
        Assert.That(elsewhere, Is.Empty, "requests to other origins");
        AssertNoConsoleErrors();
    }

    [Test]
    public async Task Should_describe_the_problem_responses_and_both_ways_to_sign()
    {
        using var http = new HttpClient { BaseAddress = BaseUrl };
        var document = JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json"))!;
        var retry = document["paths"]!["/v1/jobs/{jobId}/retry"]!["post"]!;
        foreach (var status in new[] { "401", "403", "404", "default" })
        {
            Assert.That(retry["responses"]![status]?["content"]?["application/problem+json"], Is.Not.Null, status);
        }

        Assert.That(document["components"]!["securitySchemes"]!["ApiKey"]!["name"]!.GetValue<string>(), Is.EqualTo("X-Api-Key"));
        Assert.That(document["components"]!["securitySchemes"]!["Session"]!["in"]!.GetValue<string>(), Is.EqualTo("cookie"));
        var signIn = document["paths"]!["/v1/session"]!["post"]!;
        Assert.That(signIn["security"], Is.Null, "signing in needs no key but the one in the body");
    }
}
