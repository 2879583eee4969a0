package generator

import "testing"

func TestFieldName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"url", "URL"},
		{"Url", "URL"},
		{"userId", "UserID"},
		{"userID", "UserID"},
		{"httpClient", "HTTPClient"},
		{"xmlHTTPRequest", "XMLHTTPRequest"},
		{"apiKey", "APIKey"},
		{"myURL", "MyURL"},
		{"ids", "IDs"},
		{"urls", "URLs"},
		{"id2", "ID2"},
		{"utf8", "UTF8"},
		{"retries", "Retries"},
		{"x", "X"},
		{"s", "S"},
		{"dbName", "DBName"},
		{"user_id", "User_ID"},
		{"futuresTask_Args", "FuturesTask_Args"},
		{"ñame", "Ñame"},
		{"_x", "_x"},
		{"idle", "Idle"},
		{"sideID", "SideID"},
	}
	for _, tt := range tests {
		if got := fieldName(tt.in); got != tt.want {
			t.Errorf("fieldName(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
