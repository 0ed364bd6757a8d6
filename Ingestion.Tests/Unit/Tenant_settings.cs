using Ingestion.Platform.Tenancy;

namespace Ingestion.Tests.Unit;

public sealed class Tenant_settings
{
    [TestCase("a plain shared secret", true)]
    [TestCase("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true)]
    [TestCase("whsec_not base64!", false)]
    public void Should_accept_a_webhook_secret_only_when_a_whsec_one_is_base64(string secret, bool valid)
    {
        var options = new TenancyOptions
        {
            Tenants = [new TenantOptions { Id = "acme", ApiKeys = ["acme-key-0123456789"], WebhookSecret = secret }],
        };

        var result = new TenancyOptionsValidator().Validate(null, options);

        Assert.That(result.Succeeded, Is.EqualTo(valid), result.FailureMessage);
        if (!valid)
        {
            Assert.That(result.FailureMessage, Does.Contain("Tenancy:Tenants:0:WebhookSecret"));
        }
    }
}
