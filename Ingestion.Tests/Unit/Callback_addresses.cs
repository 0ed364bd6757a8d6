using System.Net;
using Ingestion.Platform.Tenancy;
using Ingestion.Platform.Webhooks;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.Unit;

public sealed class Callback_addresses
{
    [TestCase("127.0.0.1", "loopback")]
    [TestCase("127.255.0.9", "loopback")]
    [TestCase("10.0.0.1", "private (10.0.0.0/8)")]
    [TestCase("172.16.0.1", "private (172.16.0.0/12)")]
    [TestCase("172.31.255.255", "private (172.16.0.0/12)")]
    [TestCase("192.168.1.1", "private (192.168.0.0/16)")]
    [TestCase("169.254.169.254", "the cloud metadata service")]
    [TestCase("169.254.10.1", "link-local (169.254.0.0/16)")]
    [TestCase("100.64.0.1", "shared carrier-grade NAT space (100.64.0.0/10)")]
    [TestCase("100.100.100.200", "shared carrier-grade NAT space (100.64.0.0/10)")]
    [TestCase("0.0.0.0", "in 0.0.0.0/8 ('this network')")]
    [TestCase("224.0.0.1", "multicast")]
    [TestCase("255.255.255.255", "broadcast")]
    [TestCase("240.0.0.1", "reserved (240.0.0.0/4)")]
    [TestCase("198.18.0.1", "reserved for benchmarking (198.18.0.0/15)")]
    [TestCase("::1", "loopback")]
    [TestCase("::", "unspecified (::)")]
    [TestCase("fd00:ec2::254", "unique local (fc00::/7)")]
    [TestCase("fe80::1", "link-local (fe80::/10)")]
    [TestCase("ff02::1", "multicast")]
    [TestCase("2001:db8::1", "reserved for documentation (2001:db8::/32)")]
    [TestCase("::ffff:127.0.0.1", "loopback")]
    [TestCase("::ffff:169.254.169.254", "the cloud metadata service")]
    [TestCase("64:ff9b::a00:1", "private (10.0.0.0/8)")]
    [TestCase("2002:a00:1::1", "private (10.0.0.0/8)")]
    [TestCase("::7f00:1", "reserved (outside IPv6 global unicast 2000::/3)")]
    public void Should_refuse_an_address_that_is_not_public(string address, string why) =>
        Assert.That(AddressRules.Refusal(IPAddress.Parse(address)), Is.EqualTo(why));

    [TestCase("8.8.8.8")]
    [TestCase("1.1.1.1")]
    [TestCase("172.32.0.1")]
    [TestCase("100.128.0.1")]
    [TestCase("169.255.0.1")]
    [TestCase("2606:4700:4700::1111")]
    [TestCase("::ffff:8.8.8.8")]
    [TestCase("64:ff9b::808:808")]
    public void Should_allow_a_public_address(string address) =>
        Assert.That(AddressRules.Refusal(IPAddress.Parse(address)), Is.Null);

    [TestCase("http://[::1]:9000/x", "::1 is loopback")]
    [TestCase("http://2130706433/x", "127.0.0.1 is loopback")]
    [TestCase("http://0x7f.1/x", "127.0.0.1 is loopback")]
    [TestCase("http://[0:0:0:0:0:ffff:a9fe:a9fe]/x", "the cloud metadata service")]
    public async Task Should_see_through_the_ways_an_address_can_be_written(string url, string why)
    {
        var check = await Guard().CheckAsync(new Uri(url), CancellationToken.None);

        Assert.That(check.IsAllowed, Is.False);
        Assert.That(check.Problem, Does.Contain(why));
    }

    [Test]
    public async Task Should_let_an_allow_listed_host_through_without_looking_at_its_addresses()
    {
        var check = await Guard("localhost").CheckAsync(new Uri("http://LocalHost:8080/x"), CancellationToken.None);

        Assert.That(check.IsAllowed, Is.True);
        Assert.That(check.Addresses, Is.Null, "connected to as DNS says");
    }

    [Test]
    public async Task Should_approve_exactly_the_addresses_it_checked()
    {
        var check = await Guard().CheckAsync(new Uri("https://93.184.216.34/hook"), CancellationToken.None);

        Assert.That(check.Addresses, Is.EqualTo(new[] { IPAddress.Parse("93.184.216.34") }));
    }

    private static CallbackGuard Guard(params string[] allowed) => new(
        Options.Create(new WebhookOptions { AllowedHosts = [.. allowed] }),
        Options.Create(new TenancyOptions()));
}
