DROP TABLE referral_status_changes;
DROP TABLE referrals;
DROP TABLE boardings;
DROP TABLE trips;
