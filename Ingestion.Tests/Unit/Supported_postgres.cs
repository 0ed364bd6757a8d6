using Ingestion.Platform.Database;

namespace Ingestion.Tests.Unit;

/// <summary>
/// On PostgreSQL 13 every job lock would fail (it sets <c>client_connection_check_interval</c>, new in 14): the service
/// refuses to start there, saying why, rather than failing each job. The end-to-end tests run on 15, which starts.
/// </summary>
public sealed class Supported_postgres
{
    [TestCase("13.14")]
    [TestCase("12.0")]
    public void Should_refuse_a_server_older_than_14_saying_why(string version)
    {
        Assert.That(DatabaseMigrator.Unsupported(Version.Parse(version)), Does.StartWith($"PostgreSQL {version} is too old")
            .And.Contain("needs 14 or later").And.Contain("client_connection_check_interval").And.EndWith("Nothing was migrated."));
    }

    [TestCase("14.0")]
    [TestCase("15.18")]
    [TestCase("17.2")]
    public void Should_run_on_14_and_later(string version) =>
        Assert.That(DatabaseMigrator.Unsupported(Version.Parse(version)), Is.Null);
}
