using System.Security.Cryptography;
using System.Text;
using Ingestion.Platform.Database;

namespace Ingestion.Tests.Unit;

/// <summary>
/// A released migration is never edited: the migrator applies a version once and never reads it
/// again, so an edit reaches fresh databases only and an existing one silently lacks it (a column
/// added to 0028 after its release made every index build fail with 42703 on upgrade). A change
/// goes in a new migration; this pins the text of every migration released on main.
/// </summary>
public sealed class Released_migrations
{
    /// <summary>SHA-256 of each released migration's text (LF line ends), as on main.</summary>
    private static readonly Dictionary<string, string> Released = new()
    {
        ["0001_jobs_datasets_outbox"] = "44933bf5c636b827c93d8a1bd269a0bf0ca659ad4cb11bfd39e7f4a970c32f56",
        ["0002_upload_checkpoints"] = "50471fdff5f4ea702364ebf78298b016e28d49e3c75f3782beadc2def8e4242f",
        ["0003_outbox_destination"] = "63861f0940ac33e82225539e6caa4fc3956bbd8c951eb7a56ae5977b593651a6",
        ["0004_account_documents"] = "a3f54ad53ee8a5705a8014850adb1726a851325fb1aef4a137270a08bc9c87c9",
        ["0005_history_webhooks_maintenance"] = "86023cfcbf5a08b78dd483e484d0bfd825c2963c906ff01c1180fc0835debf4e",
        ["0007_archived_failures"] = "b69b21da14d0583f8d40b439771a9cd48f66faa4b5dc97be969b2d0c46c06250",
        ["0008_job_heartbeat"] = "e1cf96e4b42ffac6e7d1b5565b3063cf93dab7a3b70a849079bef040d58ee8b7",
        ["0009_outbox_returned"] = "da5951289f5f9d864c328b36834aa1f9f73c520bf31586e230909134fdd1ff9c",
        ["0010_outbox_poisoned"] = "c60eabfcf65ecda81c72263e3899b3e0bcdee7410ba7b17cd4db5920efb0661a",
        ["0011_sources"] = "9fdce830073f4430713f10aaca862a63e7664b25c3dffeae657b7c0a2f4a12ca",
        ["0012_syncs"] = "690fdb4154f3571e8a39adaf76e7383737f7b1a3460142694b9042a1960eb500",
        ["0013_source_watermarks"] = "0e16365695f93a3c38c2f2c83a88f77df2c285df3569bcf851c9af840661c7a0",
        ["0014_read_changes"] = "2d895e1fa1973344dbfd29ee911d73710c5bb58a5e0ace1944ebe057853393d0",
        ["0017_upload_chunks"] = "1ede2311d0c994ad4debbce710eaf47c139896d3aef567dade26299f246f3e98",
        ["0018_rate_policy_lapse"] = "ba96153df07a0c12a2ff834d5e1603a18b01f80cd704d00aa18f8535b74c76da",
        ["0019_index_builds"] = "f01dfd591eee080cb995aecc4fe2b0860a464f96994844eff55133422dbcc6cd",
        ["0020_console_sessions"] = "b580034135ffa9933b644a916368bfe96e543880d24f39e6aaa5cb5b5a1a2e36",
        ["0022_compressed_uploads"] = "b337fa9fc7b85d57bb38d4f0bce317b47a942cb5b1de04e4afa78224afa80dd2",
        ["0023_reaper_events"] = "5097c3eb02ba633226ab6fd0a69c82ed93f759daf40a18f06ddb7901f179d3cb",
        ["0027_sync_duplicate_keys"] = "6b97d346a8b5f85f2fdc3416d09c6a024494970a84e3c250c4af32c8d548e6cf",
        ["0028_index_build_sessions"] = "b5ee395baedb27d87e86e9974a7d6b714d99804385a21d2d01d50b11693b548a",
        ["0029_parallel_keyed_chunks"] = "8531c4a978eff7389155cb165d9500bacbc31114794e372ba07dc5afe836046c",
        ["0030_rate_grant_ends"] = "4fe9d2b15d6075e03bfd6d2f298a96a3c467bafe883d318b050fc56f7e4391d6",
        ["0031_index_build_stopped"] = "a05259df5fd0e91ac7de055849302bda7c0cf0e098b8481e289a576297e9827b",
        ["0032_rate_policy_margin"] = "46d538a345ebe1136c2de028b866c22d9f63442021156172acd121ccdcab485a",
        ["0033_upload_chunk_halts"] = "e43d0c24e497d2fbd198d87a76a14bcbee9a853e9619f308243155a9e74773e3",
        ["0034_upload_rows_total"] = "caf8291c384bb888241a37f02c0396dd4870ffdfec5dd850a5afbf6f7b7a7fd3",
        ["0035_upload_chunk_range_fence"] = "db748a220deb81f3495a8b3e610be1353d4ad817a195190743f5ea66fb211c43",
        ["0036_converted_uploads"] = "e04cb1d96aeb8383cfbec8dfcd5bf173058670bd916e15d0461cc95bea3b896e",
        ["0037_compressed_chunks"] = "5ee9e6e9791afb0d9f09084170e52e803dbdf99438ac12a87f4a584dfa92dc47",
        ["0038_utf16_json_lines"] = "04ef21fa985132cabbe98053233a9812abfc3321dbbc301fef82c6655325ef59",
        ["0039_outbox_job_commands"] = "da1ac5cf86ea6f7ccee3d44d82ac26ea3c551c914f67cb889848bf5e25a19763",
    };

    [Test]
    public void Should_keep_every_released_migration_as_released()
    {
        var embedded = DatabaseMigrator.Migrations().ToDictionary(m => $"{m.Version:D4}_{m.Name}", m => m.Sql);

        Assert.Multiple(() =>
        {
            foreach (var (name, hash) in Released)
            {
                Assert.That(embedded, Does.ContainKey(name), $"{name} is released: it may not be removed or renamed");
                if (embedded.TryGetValue(name, out var sql))
                {
                    var actual = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.Replace("\r\n", "\n"))));
                    Assert.That(actual, Is.EqualTo(hash), $"{name} is released: add a new migration instead of editing it");
                }
            }
        });
    }
}
