using Ingestion.Platform.Tenancy;
using Ingestion.Platform.Webhooks;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Webhooks;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Webhooks;

/// <summary>
/// The worker's own check before each attempt: a URL the API accepted (its configuration
/// allow-listed the host, or DNS answered differently then) is still not called when the
/// worker's check refuses it. The sender's client against a receiver on this machine.
/// </summary>
public sealed class When_a_callback_is_checked_at_delivery
{
    private const string Secret = "delivery-time-secret";
    private WebhookReceiver _receiver = null!;

    [OneTimeSetUp]
    public void Start() => _receiver = new WebhookReceiver();

    [OneTimeTearDown]
    public void Stop() => _receiver.Dispose();

    [Test]
    public async Task Should_not_call_a_host_that_resolves_to_loopback_unless_it_is_allow_listed()
    {
        using var guarded = Client(new WebhookOptions());
        var refused = await guarded.SendAsync(new Uri(_receiver.Url("guarded")), "{}"u8.ToArray(), Secret, Guid.NewGuid(), 1,
            CancellationToken.None);

        Assert.That(refused.StatusCode, Is.Null);
        Assert.That(refused.Error, Does.StartWith("not sent: callbackUrl is refused").And.Contain("loopback"));
        Assert.That(_receiver.Received("guarded"), Is.Empty, "nothing reached the receiver");

        using var allowing = Client(new WebhookOptions { AllowedHosts = ["LOCALHOST"] });
        var delivered = await allowing.SendAsync(new Uri(_receiver.Url("guarded")), "{\"a\":1}"u8.ToArray(), Secret, Guid.NewGuid(), 2,
            CancellationToken.None);

        Assert.That(delivered.StatusCode, Is.EqualTo(200), delivered.Error);
        var request = _receiver.Received("guarded").Single();
        Assert.That(request.Header("Ingestion-Attempt"), Is.EqualTo("2"));
        Assert.That(WebhookVerification.IsAuthentic(Secret, request.Header("Ingestion-Timestamp"), request.Header("Ingestion-Signature"),
            request.Body, TimeSpan.FromMinutes(1)), Is.True);
    }

    [Test]
    public async Task Should_not_follow_a_redirect()
    {
        _receiver.Answer("moved", 307);
        using var client = Client(new WebhookOptions { AllowedHosts = ["localhost"] });

        var outcome = await client.SendAsync(new Uri(_receiver.Url("moved")), "{}"u8.ToArray(), Secret, Guid.NewGuid(), 1,
            CancellationToken.None);

        Assert.That(outcome.StatusCode, Is.EqualTo(307));
        Assert.That(outcome.Delivered, Is.False);
        Assert.That(_receiver.Received("moved"), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Should_record_a_receiver_that_does_not_listen_as_an_error()
    {
        using var client = Client(new WebhookOptions { AllowedHosts = ["localhost"], Timeout = TimeSpan.FromSeconds(2) });
        var port = new WebhookReceiver();
        var closed = port.Url("gone");
        port.Dispose();

        var outcome = await client.SendAsync(new Uri(closed), "{}"u8.ToArray(), Secret, Guid.NewGuid(), 1, CancellationToken.None);

        Assert.That(outcome.StatusCode, Is.Null);
        Assert.That(outcome.Error, Does.Contain("refused").IgnoreCase);
    }

    [Test]
    public async Task Should_sign_with_a_standard_webhooks_secret_so_that_a_stock_verifier_accepts_it()
    {
        var secret = "whsec_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        using var client = Client(new WebhookOptions { AllowedHosts = ["localhost"] });

        var outcome = await client.SendAsync(new Uri(_receiver.Url("standard")), "{\"jobId\":\"é\"}"u8.ToArray(), secret, Guid.NewGuid(), 1,
            CancellationToken.None);

        Assert.That(outcome.StatusCode, Is.EqualTo(200), outcome.Error);
        var request = _receiver.Received("standard").Single();
        Assert.That(WebhookVerification.IsStandardAuthentic(secret, request), Is.True, request.Header("webhook-signature"));
        Assert.That(WebhookVerification.IsStandardAuthentic("whsec_" + Convert.ToBase64String(new byte[32]), request), Is.False);
        Assert.That(WebhookVerification.IsAuthentic(secret, request.Header("Ingestion-Timestamp"), request.Header("Ingestion-Signature"),
            request.Body, TimeSpan.FromMinutes(1)), Is.True, "the deprecated signature keys on the secret as written");
    }

    private static WebhookClient Client(WebhookOptions options) =>
        new(new CallbackGuard(Options.Create(options), Options.Create(new TenancyOptions())), Options.Create(options));
}
